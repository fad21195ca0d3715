"""latency: with a threshold, the share of requests slower than it (a rate, lower is
better); without one, the whole distribution from every bucket of the histogram (is the
canary's share within any boundary lower than stable's, by more than the tolerance?).

timeToFirstToken and interTokenLatency are the same check on an LLM's histograms of the
time to its first token and between tokens: only the series they default to differs."""

from __future__ import annotations

from collections.abc import Callable

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.api.prometheus_source import MetricConventions
from modelrollout.engine.checks import distributions, rates
from modelrollout.engine.checks.look import Look
from modelrollout.engine.checks.reads import CANARY, STABLE, Matcher, SeriesRead, Tallies, total
from modelrollout.engine.sequential import Counts

Reads = Callable[[Check, MetricConventions], tuple[SeriesRead, ...]]


def reads_of(histogram: Callable[[MetricConventions], str]) -> Reads:
    """The reads of a latency check whose histogram is `histogram` unless it names one."""

    def reads(check: Check, conv: MetricConventions) -> tuple[SeriesRead, ...]:
        return _reads(check, check.series or histogram(conv))

    return reads


def _reads(check: Check, histogram: str) -> tuple[SeriesRead, ...]:
    name = check.label()
    bucket = f"{histogram}_bucket"
    threshold = check.threshold_seconds()
    if threshold is None:
        return (SeriesRead(name, distributions.BUCKETS, bucket, by="le"),)
    return (
        SeriesRead(name, "requests", bucket, (Matcher("le", "+Inf"),)),
        SeriesRead(name, "fast", bucket, (Matcher("le", repr(threshold), "number"),)),
    )


def look(check: Check, old: JudgeCheck | None, tallies: Tallies) -> Look:
    name = check.label()
    if check.threshold_seconds() is None:
        return distributions.take(check, old, distributions.histogram(tallies, name), "lower")
    missing = (
        f"no latency counts for both versions: is {check.threshold} one of the histogram's "
        "bucket boundaries (le)?"
    )
    return rates.take(check, old, _slow(tallies, name), missing, True)


def _slow(tallies: Tallies, name: str) -> Counts | None:
    """Timed requests and those slower than the threshold; both series are needed."""
    sides = []
    for side in (CANARY, STABLE):
        timed, fast = total(tallies, side, name, "requests"), total(tallies, side, name, "fast")
        if timed is None or fast is None:
            return None
        sides.append((timed, max(timed - fast, 0.0)))
    (canary, canary_slow), (stable, stable_slow) = sides
    return Counts(canary, canary_slow, stable, stable_slow)


def describe(check: JudgeCheck, boundary: float) -> str:
    if check.slots:
        return distributions.describe(check, "share within each le", boundary)
    return rates.describe(check, "slower than the threshold", boundary)
