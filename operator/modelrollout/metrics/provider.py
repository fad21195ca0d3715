"""The metrics provider protocol: a query answers with a number, no number, or an error.

A provider owns everything particular to its backend: its query language and built-in
templates, its credentials, and reading its answers. What a number means (Successful,
Failed, Inconclusive, Error) is one shared rule (classify.py, measure.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from modelrollout.api.spec import Metric
from modelrollout.engine.checks.reads import LookPlan, Tallies


class ProviderError(Exception):
    """No usable answer: unreachable, timed out, refused, or an answer of the wrong shape.
    The message says which, and what came back."""


class ProviderConfigError(ValueError):
    """The provider's configuration cannot work (for example unusable credentials)."""


@dataclass(frozen=True)
class Target:
    """What is measured: one revision of one ModelDeployment, over one window."""

    namespace: str
    model: str
    version: str
    revision: str
    window: timedelta


class MetricsProvider(Protocol):
    def value(self, query: str) -> float | None:
        """The query's one number; None when it has no data; ProviderError otherwise."""
        ...

    def metric_query(self, metric: Metric, target: Target) -> str:
        """The query for one metric (a built-in template or the user's own)."""
        ...

    def sample_size_query(self, target: Target) -> str:
        """The query for how many requests the target served in the window."""
        ...

    def tallies(self, plan: LookPlan, namespace: str, model: str) -> Tallies:
        """Every sum of the judge's plan, read at one instant; a sum with no data is
        absent. ProviderError when there is no usable answer."""
        ...
