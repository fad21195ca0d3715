"""predictions: the distribution of the model's outputs, either way: a counter by
predicted class, or (a `series` without `by`) a histogram of scores."""

from __future__ import annotations

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.api.prometheus_source import MetricConventions
from modelrollout.engine.checks import distributions
from modelrollout.engine.checks.look import Look
from modelrollout.engine.checks.reads import SeriesRead, Tallies


def _histogram(check: Check) -> bool:
    return check.series is not None and check.by is None


def reads(check: Check, conv: MetricConventions) -> tuple[SeriesRead, ...]:
    name = check.label()
    if _histogram(check):
        return (SeriesRead(name, distributions.BUCKETS, f"{check.series}_bucket", by="le"),)
    counter = check.series or conv.predictions_total
    return (SeriesRead(name, distributions.BUCKETS, counter, by=check.by or conv.prediction_label),)


def look(check: Check, old: JudgeCheck | None, tallies: Tallies) -> Look:
    name = check.label()
    found = (
        distributions.histogram(tallies, name)
        if _histogram(check)
        else distributions.classes(tallies, name)
    )
    return distributions.take(check, old, found, "either")


def describe(check: JudgeCheck, boundary: float) -> str:
    return distributions.describe(check, "shares of outputs", boundary)
