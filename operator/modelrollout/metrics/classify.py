"""Turn a Prometheus answer into a Measurement: Successful, Failed, Inconclusive or Error."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from modelrollout.api.spec import Metric
from modelrollout.api.status import Measurement
from modelrollout.api.vocabulary import Outcome
from modelrollout.engine.analysis import judge


def measured(
    metric: Metric, outcome: Outcome, message: str, at: datetime, value: float | None = None
) -> Measurement:
    return Measurement(
        metric=metric.name,
        outcome=outcome,
        value=None if value is None or math.isnan(value) else value,
        min=metric.min,
        max=metric.max,
        message=message,
        at=at,
    )


def single_value(result: Any) -> float | str | None:
    """The one number in an instant-query result; None when empty; a str saying what is wrong."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return float(result[1])  # a scalar: [timestamp, "value"]
    if not isinstance(result, list):
        return f"unexpected result shape: {type(result).__name__}"
    if not result:
        return None
    if len(result) > 1:
        return (
            f"query returned {len(result)} series; it must return one number "
            "(aggregate it, e.g. with sum())"
        )
    try:
        return float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return f"unexpected series: {result[0]!r:.200}"


def classify(metric: Metric, result: Any, at: datetime) -> Measurement:
    value = single_value(result)
    if isinstance(value, str):
        return measured(metric, Outcome.ERROR, value, at)
    if value is None:
        return measured(metric, Outcome.INCONCLUSIVE, "no data: the query returned nothing", at)
    outcome, message = judge(value, metric.min, metric.max)
    return measured(metric, outcome, message, at, value)
