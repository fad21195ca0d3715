"""ratio: any counter over a total, both labelled by version (invalid outputs, rejected
inputs, clicks), lower or higher being better as the check says."""

from __future__ import annotations

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.api.prometheus_source import MetricConventions
from modelrollout.engine.checks import errors, rates
from modelrollout.engine.checks.look import Look
from modelrollout.engine.checks.reads import SeriesRead, Tallies


def reads(check: Check, conv: MetricConventions) -> tuple[SeriesRead, ...]:
    name = check.label()
    return (
        SeriesRead(name, "requests", check.total or conv.requests_total),
        SeriesRead(name, "bad", check.series or conv.invalid_outputs_total),
    )


def look(check: Check, old: JudgeCheck | None, tallies: Tallies) -> Look:
    # The same sums as errors: a total, and the counted among it (none without a series).
    counts = errors.counts(tallies, check.label())
    missing = "no totals counted for both versions yet"
    return rates.take(check, old, counts, missing, check.better != "higher")


def describe(check: JudgeCheck, boundary: float) -> str:
    return rates.describe(check, "counted over the total", boundary)
