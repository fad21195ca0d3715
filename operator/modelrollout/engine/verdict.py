"""Measurements -> a verdict: pass, fail, pause, or roll back.

One run measures every metric once; the run's outcome is its most severe measurement
(a failure outweighs an unreachable Prometheus; missing data never counts as a pass).
The verdict counts the run, says what it implies, and the strategy acts on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from modelrollout.api.status import MAX_MEASUREMENTS, Measurement
from modelrollout.api.vocabulary import Outcome, Reason
from modelrollout.engine.rollback import roll_back
from modelrollout.engine.tick import ANALYSIS_PAUSES, Tick

_SEVERITY = [Outcome.FAILED, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.SUCCESSFUL]


def judge(value: float, minimum: float | None, maximum: float | None) -> tuple[Outcome, str]:
    """Successful when value lies within [minimum, maximum]; NaN is Inconclusive."""
    if math.isnan(value) or math.isinf(value):
        return Outcome.INCONCLUSIVE, f"value is {value}: no data to judge"
    if maximum is not None and value > maximum:
        return Outcome.FAILED, f"{value:.6g} is above the maximum {maximum:.6g}"
    if minimum is not None and value < minimum:
        return Outcome.FAILED, f"{value:.6g} is below the minimum {minimum:.6g}"
    return Outcome.SUCCESSFUL, f"{value:.6g} is within bounds"


def run_outcome(measurements: Sequence[Measurement]) -> Outcome:
    """The outcome of one run of all metrics: the most severe of its measurements."""
    if not measurements:
        return Outcome.INCONCLUSIVE
    return min((m.outcome for m in measurements), key=_SEVERITY.index)


def summary(measurements: Sequence[Measurement]) -> str:
    """One line for a run; a reason shared by every metric (no data, no Prometheus) once."""
    if not measurements:
        return "nothing measured"
    first = measurements[0]
    if len(measurements) > 1 and all(
        (m.outcome, m.message) == (first.outcome, first.message) for m in measurements
    ):
        return f"all metrics: {first.outcome.value} ({first.message})"
    return "; ".join(f"{m.metric}: {m.outcome.value} ({m.message})" for m in measurements)


class Verdict(Enum):
    PASSED = "passed"  # lifts a pause the analysis caused
    COUNTED = "counted"  # recorded; nothing else changes (a failure within the limit)
    PAUSE = "pause"  # no verdict possible: hold the rollout
    ROLL_BACK = "roll back"  # failures beyond the limit


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str = ""
    message: str = ""


def count_run(t: Tick, measurements: tuple[Measurement, ...]) -> Judgement:
    """Record one run in the analysis status (counters, latest measurements, an Event)
    and say what it implies."""
    analysis, limits = t.s.analysis, t.spec.analysis
    assert limits is not None, "measurements are taken only with spec.analysis"
    outcome = run_outcome(measurements)
    analysis.last_run_at = t.now
    analysis.last = [*measurements, *analysis.last][:MAX_MEASUREMENTS]
    said = summary(measurements)
    if outcome != Outcome.ERROR:
        analysis.consecutive_errors = 0
    if outcome == Outcome.SUCCESSFUL:
        analysis.successful += 1
        analysis.step_successes += 1
        analysis.last_success_at = t.now
        t.event("Normal", "AnalysisSuccessful", said)
        return Judgement(Verdict.PASSED, Reason.RESUMED, said)
    if outcome == Outcome.FAILED:
        analysis.failed += 1
        t.event(
            "Warning",
            "AnalysisFailed",
            f"{said} [failed {analysis.failed}/{limits.failure_limit + 1}]",
        )
        if analysis.failed <= limits.failure_limit:
            return Judgement(Verdict.COUNTED)
        failing = "; ".join(
            f"{m.metric}: {m.message}" for m in measurements if m.outcome == Outcome.FAILED
        )
        return Judgement(Verdict.ROLL_BACK, Reason.ANALYSIS_FAILED, failing)
    if outcome == Outcome.INCONCLUSIVE:
        analysis.inconclusive += 1
        return Judgement(
            Verdict.PAUSE,
            Reason.ANALYSIS_INCONCLUSIVE,
            f"analysis inconclusive, never a pass: {said}",
        )
    analysis.errors += 1
    analysis.consecutive_errors += 1
    t.event("Warning", "AnalysisError", said)
    if analysis.consecutive_errors < limits.consecutive_error_limit:
        return Judgement(Verdict.COUNTED)
    return Judgement(
        Verdict.PAUSE,
        Reason.ANALYSIS_ERRORS,
        f"{analysis.consecutive_errors} analysis errors in a row: paused until a "
        f"measurement succeeds ({said})",
    )


def apply_run(t: Tick, measurements: tuple[Measurement, ...] | None) -> bool:
    """Count this tick's run (if any) and act on its verdict; True when it rolled back.
    After a blue/green switch there is no rollout left to pause."""
    if measurements is None:
        return False
    judgement = count_run(t, measurements)
    rolling_out = t.s.canary is not None
    if judgement.verdict is Verdict.ROLL_BACK:
        roll_back(t, judgement.reason, judgement.message)
        return True
    if judgement.verdict is Verdict.PAUSE and rolling_out:
        t.pause(judgement.reason, judgement.message)
    elif judgement.verdict is Verdict.PASSED and t.s.pause_reason in ANALYSIS_PAUSES:
        t.resume()
        t.emit(Reason.RESUMED, f"analysis passes again: rollout resumed ({judgement.message})")
    return False
