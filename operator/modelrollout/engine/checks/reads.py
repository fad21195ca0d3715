"""What the judge reads on a look: a plan of sums the metrics provider carries out,
and the answer it gives back. Pure data: no query language here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

CANARY, STABLE = "canary", "stable"


@dataclass(frozen=True)
class Matcher:
    """A label matcher beyond the side's own labels (namespace, model, version): equal,
    a regular expression, or a number however the exporter wrote it (le="0.5", "0.50")."""

    label: str
    value: str
    how: Literal["equal", "regex", "number"] = "equal"


@dataclass(frozen=True)
class SeriesRead:
    """One sum per side: a counter (or a histogram's _bucket series), counted since the
    judge began, summed over pods, grouped by one label or none. A series that appeared
    after the judge began counts from zero, so its first increment is not lost."""

    check: str  # the check's name
    part: str  # what the sum is to the check: requests, bad, buckets
    metric: str
    matchers: tuple[Matcher, ...] = ()
    by: str | None = None


@dataclass(frozen=True)
class Side:
    version: str
    revision: str


@dataclass(frozen=True)
class LookPlan:
    """A look of the judge: every read for both sides, over the window since it began."""

    since: datetime
    window: timedelta
    canary: Side
    stable: Side
    reads: tuple[SeriesRead, ...]
    problem: str = ""  # why nothing can be read (both sides report one version)


# (side, check, part, bucket) -> count; bucket "" for a read not grouped by a label.
Tallies = Mapping[tuple[str, ...], float]


def part(tallies: Tallies, side: str, check: str, name: str) -> dict[str, float]:
    """One read's counts of one side, by bucket (empty: no data)."""
    return {
        bucket: value
        for (s, c, p, bucket), value in tallies.items()
        if (s, c, p) == (side, check, name)
    }


def total(tallies: Tallies, side: str, check: str, name: str) -> float | None:
    """One ungrouped read's count of one side; None without data."""
    found = part(tallies, side, check, name)
    return sum(found.values()) if found else None
