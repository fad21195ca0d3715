"""One look of the judge through any provider: its counts per check, or why none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from modelrollout.engine.judge import ERRORS, LATENCY
from modelrollout.engine.model import JudgeReading
from modelrollout.engine.sequential import Counts
from modelrollout.metrics.measure import said
from modelrollout.metrics.provider import Comparison, MetricsProvider, Tallies


def _errors(tallies: Tallies, side: str) -> tuple[float, float] | None:
    """(requests, errors); no error series at all means no errors."""
    total = tallies.get((side, "requests"))
    return None if total is None else (total, tallies.get((side, "errors"), 0.0))


def _slow(tallies: Tallies, side: str) -> tuple[float, float] | None:
    """(timed requests, those slower than the threshold); both series are needed."""
    total, fast = tallies.get((side, "timed")), tallies.get((side, "fast"))
    return None if total is None or fast is None else (total, max(total - fast, 0.0))


# check -> (tallies, side) -> (requests, bad ones) of that side, or None without data
_SIDES: dict[str, Callable[[Tallies, str], tuple[float, float] | None]] = {
    ERRORS: _errors,
    LATENCY: _slow,
}


def look(provider: MetricsProvider, comparison: Comparison, since: datetime) -> JudgeReading:
    try:
        tallies = provider.tallies(comparison)
    except Exception as exc:  # a provider's bug must not stop the rollout's loop
        return JudgeReading(since, problem=said(exc), error=True)
    wanted = (ERRORS, LATENCY) if comparison.latency_threshold is not None else (ERRORS,)
    counts: dict[str, Counts] = {}
    missing: list[str] = []
    for check in wanted:
        found = _counts(tallies, check)
        if found is None:
            missing.append(_missing(check, comparison))
        else:
            counts[check] = found
    problem = "; ".join(missing)
    return JudgeReading(since, counts or None, problem=problem)


def _counts(tallies: Tallies, check: str) -> Counts | None:
    """A check's counts; None unless both sides have them."""
    canary, stable = _SIDES[check](tallies, "canary"), _SIDES[check](tallies, "stable")
    if canary is None or stable is None:
        return None
    return Counts(
        canary_requests=canary[0],
        canary_bad=canary[1],
        stable_requests=stable[0],
        stable_bad=stable[1],
    )


def _missing(check: str, comparison: Comparison) -> str:
    if check == ERRORS:
        return (
            f"no request counts for both versions yet (canary {comparison.canary.version}, "
            f"stable {comparison.stable.version})"
        )
    return (
        f"no latency counts for both versions: is {comparison.latency_threshold:g}s one of "
        "the histogram's bucket boundaries (le)?"
    )
