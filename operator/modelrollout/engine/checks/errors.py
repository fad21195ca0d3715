"""errors: the share of 5xx answers among all requests, lower is better."""

from __future__ import annotations

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.api.prometheus_source import MetricConventions
from modelrollout.engine.checks import rates
from modelrollout.engine.checks.look import Look
from modelrollout.engine.checks.reads import CANARY, STABLE, Matcher, SeriesRead, Tallies, total
from modelrollout.engine.sequential import Counts


def reads(check: Check, conv: MetricConventions) -> tuple[SeriesRead, ...]:
    name, counter = check.label(), conv.requests_total
    return (
        SeriesRead(name, "requests", counter),
        SeriesRead(name, "bad", counter, (Matcher(conv.code_label, "5..", "regex"),)),
    )


def look(check: Check, old: JudgeCheck | None, tallies: Tallies) -> Look:
    return rates.take(check, old, counts(tallies, check.label()), _MISSING, True)


_MISSING = "no request counts for both versions yet"


def counts(tallies: Tallies, name: str) -> Counts | None:
    """Requests and the bad among them per side; no bad series at all counts none."""
    canary, stable = (
        total(tallies, CANARY, name, "requests"),
        total(tallies, STABLE, name, "requests"),
    )
    if canary is None or stable is None:
        return None
    return Counts(
        canary_requests=canary,
        canary_bad=total(tallies, CANARY, name, "bad") or 0.0,
        stable_requests=stable,
        stable_bad=total(tallies, STABLE, name, "bad") or 0.0,
    )


def describe(check: JudgeCheck, boundary: float) -> str:
    return rates.describe(check, "5xx answers", boundary)
