"""The one rule from a provider's number to a Measurement: within [min, max] passes,
no number is Inconclusive, and no answer is an Error."""

from __future__ import annotations

from datetime import datetime

from modelrollout.api.spec import Metric
from modelrollout.api.status import Measurement
from modelrollout.api.vocabulary import Outcome
from modelrollout.engine.verdict import judge


def measured(
    metric: Metric, outcome: Outcome, message: str, at: datetime, value: float | None = None
) -> Measurement:
    return Measurement(
        metric=metric.name,
        outcome=outcome,
        value=value,  # the model drops NaN and infinities
        min=metric.min,
        max=metric.max,
        message=message,
        at=at,
    )


def classify(metric: Metric, value: float | None, at: datetime) -> Measurement:
    if value is None:
        return measured(metric, Outcome.INCONCLUSIVE, "no data: the query returned nothing", at)
    outcome, message = judge(value, metric.min, metric.max)
    return measured(metric, outcome, message, at, value)
