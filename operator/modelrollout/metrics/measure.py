"""One analysis run: the sample-size gate, then every metric once, through any provider."""

from __future__ import annotations

import math
from datetime import datetime

from modelrollout.api.spec import Analysis
from modelrollout.api.status import Measurement
from modelrollout.api.vocabulary import Outcome
from modelrollout.metrics.classify import classify, measured
from modelrollout.metrics.provider import MetricsProvider, ProviderError, Target


def measure(
    provider: MetricsProvider, analysis: Analysis, target: Target, now: datetime
) -> tuple[Measurement, ...]:
    def every(outcome: Outcome, message: str) -> tuple[Measurement, ...]:
        return tuple(measured(m, outcome, message, now) for m in analysis.metrics)

    if analysis.min_sample_size > 0:
        try:
            count = provider.value(provider.sample_size_query(target)) or 0.0
        except Exception as exc:  # a provider's bug must not stop the rollout's loop
            return every(Outcome.ERROR, said(exc))
        if not math.isfinite(count):  # NaN and infinities never pass the gate
            return every(Outcome.INCONCLUSIVE, f"the request count is {count}: no usable data")
        if count < analysis.min_sample_size:
            return every(
                Outcome.INCONCLUSIVE,
                f"{count:.0f} requests in the window, fewer than minSampleSize "
                f"{analysis.min_sample_size}",
            )

    results = []
    for metric in analysis.metrics:
        try:
            value = provider.value(provider.metric_query(metric, target))
        except Exception as exc:  # a provider's bug must not stop the rollout's loop
            results.append(measured(metric, Outcome.ERROR, said(exc), now))
        else:
            results.append(classify(metric, value, now))
    return tuple(results)


def said(exc: Exception) -> str:
    """A provider's own error says what happened; anything else is named with its type."""
    if isinstance(exc, ProviderError | ValueError):
        return str(exc)
    return f"the metrics provider failed unexpectedly: {type(exc).__name__}: {exc}"
