"""A distribution check (predictions; latency without a threshold): the canary's share
of each bucket against stable's, tested by shares.py. Buckets are a counter's classes
or a histogram's boundaries; their names come from Prometheus and enter the status only
when they are short plain names."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import MAX_BUCKETS, JudgeCheck
from modelrollout.engine import shares
from modelrollout.engine.checks.look import Look, times
from modelrollout.engine.checks.reads import CANARY, STABLE, Tallies, part
from modelrollout.engine.shares import Worse

PLAIN = re.compile(r"^[A-Za-z0-9_.:+-]{1,64}$")
BUCKETS = "buckets"


@dataclass(frozen=True)
class Found:
    """Both sides' cumulative counts per bucket, and their totals."""

    canary: Mapping[str, float]
    stable: Mapping[str, float]
    canary_total: float
    stable_total: float
    labels: tuple[str, ...]  # in the order they are judged and shown


def classes(tallies: Tallies, name: str) -> Found | str:
    """A counter by class: a class one side never counted is 0 there (a new class)."""
    canary, stable = part(tallies, CANARY, name, BUCKETS), part(tallies, STABLE, name, BUCKETS)
    if not canary or not stable:
        return "no predictions counted for both versions yet"
    labels = sorted(canary.keys() | stable.keys())
    return Found(canary, stable, sum(canary.values()), sum(stable.values()), tuple(labels))


def histogram(tallies: Tallies, name: str) -> Found | str:
    """A histogram's cumulative buckets: the boundaries both sides have, by value, and
    le="+Inf" as the total. An `le` that is not a number is no boundary."""
    sides = []
    for side in (CANARY, STABLE):
        by_value: dict[float, float] = {}
        for le, count in part(tallies, side, name, BUCKETS).items():
            try:
                by_value[float(le)] = count
            except ValueError:
                continue
        if math.inf not in by_value:
            return 'no histogram counted for both versions yet (no le="+Inf" bucket)'
        sides.append(by_value)
    canary, stable = sides
    boundaries = sorted((canary.keys() & stable.keys()) - {math.inf})
    labels = tuple(f"{b:g}" for b in boundaries)
    return Found(
        {f"{b:g}": canary[b] for b in boundaries},
        {f"{b:g}": stable[b] for b in boundaries},
        canary[math.inf],
        stable[math.inf],
        labels,
    )


def take(check: Check, old: JudgeCheck | None, found: Found | str, worse: Worse) -> Look:
    """Add the growth since the last look to each bucket's shift and to the evidence; a
    count that went down adds nothing, and growth on one side only waits."""
    before = old if old is not None and old.slots else None
    if isinstance(found, str):
        return Look(before or _empty(check), found)
    strange = [label for label in found.labels if not PLAIN.match(label)]
    if strange:
        return Look(before or _empty(check), "a bucket's label is not a short plain name")
    before = _with_buckets(check, before, found.labels)
    if before is None:
        return Look(_empty(check), f"more than {MAX_BUCKETS} buckets: not judged")
    canary = [found.canary.get(b, 0.0) for b in before.buckets]
    stable = [found.stable.get(b, 0.0) for b in before.buckets]
    grown_c = [new - was for new, was in zip(canary, before.canary_counts, strict=True)]
    grown_s = [new - was for new, was in zip(stable, before.stable_counts, strict=True)]
    total_c = found.canary_total - before.canary_requests
    total_s = found.stable_total - before.stable_requests
    if min([total_c, total_s, *grown_c, *grown_s], default=0.0) < 0:
        return Look(before, "a count went down, no evidence taken from this look")
    if min(total_c, total_s) <= 0:
        return Look(before)
    shifts = shares.update(before.shifts, grown_c, total_c, grown_s, total_s)
    weight = before.weight + shares.weight(total_c, total_s)
    after = before.model_copy(
        update={
            "canary_counts": canary,
            "stable_counts": stable,
            "canary_requests": found.canary_total,
            "stable_requests": found.stable_total,
            "shifts": shifts,
            "weight": weight,
            "evidence": shares.evidence(
                shifts, weight, check.tolerance_value(), before.slots, worse
            ),
        }
    )
    return Look(after, canary_requests=total_c)


def _empty(check: Check) -> JudgeCheck:
    return JudgeCheck(name=check.label(), kind=check.kind)


def _with_buckets(
    check: Check, before: JudgeCheck | None, labels: tuple[str, ...]
) -> JudgeCheck | None:
    """The buckets judged: those of the first look with RESERVE slots to spare, and new
    ones (a class the canary invents) while a slot is free. None: too many to judge."""
    if before is None:
        if len(labels) > MAX_BUCKETS:
            return None
        n = len(labels)
        return JudgeCheck(
            name=check.label(),
            kind=check.kind,
            buckets=list(labels),
            canary_counts=[0.0] * n,
            stable_counts=[0.0] * n,
            shifts=[0.0] * n,
            slots=max(min(n + shares.RESERVE, MAX_BUCKETS), 1),
        )
    new = [label for label in labels if label not in before.buckets]
    room = before.slots - len(before.buckets)
    joining = new[: max(room, 0)]
    if not joining:
        return before
    zeros = [0.0] * len(joining)
    return before.model_copy(
        update={
            "buckets": [*before.buckets, *joining],
            "canary_counts": [*before.canary_counts, *zeros],
            "stable_counts": [*before.stable_counts, *zeros],
            "shifts": [*before.shifts, *zeros],
        }
    )


def describe(check: JudgeCheck, what: str, boundary: float) -> str:
    """e.g. "predictions (classes): the largest shift is setosa, canary 54.0% vs stable
    33.3%, evidence 87x (rollback at 600x)"."""
    head = f"{check.name} ({what}): "
    tail = f"evidence {times(check.evidence)} (rollback at {times(boundary)})"
    if not check.buckets or check.canary_requests <= 0 or check.stable_requests <= 0:
        return head + tail
    moved = [
        (c / check.canary_requests, s / check.stable_requests, label)
        for c, s, label in zip(check.canary_counts, check.stable_counts, check.buckets, strict=True)
    ]
    c, s, label = max(moved, key=lambda m: abs(m[0] - m[1]))
    return (
        f"{head}the largest shift is {label}, canary {100 * c:.1f}% vs stable "
        f"{100 * s:.1f}%, {tail}"
    )
