"""The metrics provider protocol (after Flagger's: run a query, say whether it is online)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from modelrollout.api.spec import Analysis
from modelrollout.api.status import Measurement
from modelrollout.api.vocabulary import Outcome
from modelrollout.metrics.classify import classify, measured
from modelrollout.metrics.queries import TEMPLATES, Target, render_custom, sample_size


class ProviderError(Exception):
    """The provider could not answer: unreachable, timed out, or refused the query."""


class MetricsProvider(Protocol):
    def run_query(self, query: str) -> Any:
        """The raw instant-query result; raises ProviderError when there is no answer."""
        ...

    def is_online(self) -> bool: ...


def measure(
    provider: MetricsProvider, analysis: Analysis, target: Target, now: datetime
) -> tuple[Measurement, ...]:
    """One analysis run: every metric once, with the sample-size gate applied first."""
    conv = analysis.prometheus.conventions

    def every(outcome: Outcome, message: str) -> tuple[Measurement, ...]:
        return tuple(measured(m, outcome, message, now) for m in analysis.metrics)

    if analysis.min_sample_size > 0:
        try:
            result = provider.run_query(sample_size(target, conv))
        except ProviderError as exc:
            return every(Outcome.ERROR, str(exc))
        count = 0.0
        if isinstance(result, list) and len(result) == 1 and isinstance(result[0], dict):
            count = float(result[0]["value"][1])
        if not count >= analysis.min_sample_size:  # NaN compares False: inconclusive
            return every(
                Outcome.INCONCLUSIVE,
                f"{count:.0f} requests in the window, fewer than minSampleSize "
                f"{analysis.min_sample_size}",
            )

    results = []
    for metric in analysis.metrics:
        try:
            if metric.template is not None:
                query = TEMPLATES[metric.template](target, conv)
            else:
                query = render_custom(metric.query or "", target)
            results.append(classify(metric, provider.run_query(query), now))
        except (ProviderError, ValueError) as exc:
            results.append(measured(metric, Outcome.ERROR, str(exc), now))
    return tuple(results)
