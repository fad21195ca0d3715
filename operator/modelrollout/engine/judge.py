"""The comparative judge in a rollout: what a look implies.

After every scrape while the canary gets traffic, the reconciler reads what canary and
stable served since the judge began (judge_plan.py says what; each check's kind turns
the growth since the last look into evidence: checks/). The judge rolls back the moment
any check's evidence reaches checks / falseRollbackRate. A step passes the judge once
the canary served minSampleSize requests in it without that happening, or, with goals,
once every goal is shown (goals.py; a canary that has not shown them by the deadline is
rolled back). No data, a count that went down and an unreachable Prometheus add no
evidence and never pass.
"""

from __future__ import annotations

from modelrollout.api.judge_status import JudgeCheck, JudgeStatus
from modelrollout.api.spec import Judge
from modelrollout.api.vocabulary import Reason
from modelrollout.engine import goals, sequential
from modelrollout.engine.checks.reads import Tallies
from modelrollout.engine.checks.table import KINDS
from modelrollout.engine.model import JudgeReading
from modelrollout.engine.rollback import roll_back
from modelrollout.engine.tick import Tick


def rollback_at(judge: Judge) -> float:
    """The evidence any check needs to roll back: falseRollbackRate is split over the
    checks, so together they roll back a good canary at most that often."""
    return sequential.boundary(judge.false_rollback_rate, len(judge.checks))


def apply_look(t: Tick, reading: JudgeReading | None) -> bool:
    """Take this tick's look (if any) into the status and act on it; True when it
    rolled back."""
    analysis = t.spec.analysis
    if reading is None or analysis is None or analysis.judge is None:
        return False
    state = t.s.analysis.judge or JudgeStatus()
    t.s.analysis.judge = state
    if state.since is None:
        state.since = reading.since
    state.evaluated_at = t.now
    if reading.error:
        _count_error(t, state, reading.problem)
        return False
    t.s.analysis.consecutive_errors = 0
    if t.s.pause_reason == Reason.ANALYSIS_ERRORS:
        t.resume()
        t.emit(Reason.RESUMED, "the judge reads Prometheus again: rollout resumed")
    before = {c.name: c.goal_met for c in state.checks}
    if reading.tallies is None:
        state.message = f"no evidence yet: {reading.problem}"
        return _goals(t, state, analysis.judge, before)
    took = _take(state, reading.tallies, analysis.judge)
    if took:
        state.read_at = t.now
    worst = max(state.checks, key=lambda c: c.evidence, default=None)
    if worst is not None and worst.evidence >= rollback_at(analysis.judge):
        roll_back(t, Reason.CANARY_WORSE, f"the judge: {state.message}")
        return True
    return _goals(t, state, analysis.judge, before)


def _goals(t: Tick, state: JudgeStatus, judge: Judge, before: dict[str, bool | None]) -> bool:
    """Say a goal met once; roll back a canary whose goals are not all met by the
    deadline. True when it rolled back."""
    for check in state.checks:
        if check.goal_met and not before.get(check.name):
            t.emit(Reason.GOAL_MET, f"the judge: {describe_check(judge, check)}")
    met = {c.name for c in state.checks if c.goal_met}
    unmet = [g.label() for g in judge.goals() if g.label() not in met]
    since = state.since
    if unmet and since is not None and t.now - since >= judge.deadline_delta():
        roll_back(
            t,
            Reason.GOAL_NOT_MET,
            f"the judge: {', '.join(unmet)} not shown within {judge.deadline}: {state.message}",
        )
        return True
    return False


def _take(state: JudgeStatus, tallies: Tallies, judge: Judge) -> bool:
    """Each check's look at the counts; whether any had data to read (a look with none
    is not a fresh verdict)."""
    before = {c.name: c for c in state.checks}
    taken: list[JudgeCheck] = []
    said: list[str] = []
    grown = 0.0
    read = False
    boundary = rollback_at(judge)
    for check in judge.checks:
        kind = KINDS[check.kind]
        look = kind.look(check, before.get(check.label()), tallies)
        after = goals.assess(check, look.check, boundary)
        taken.append(after)
        grown = max(grown, look.canary_requests)
        read = read or not look.problem
        words = describe_check(judge, after)
        said.append(f"{words} ({look.problem})" if look.problem else words)
    state.checks = taken
    state.step_requests += grown
    state.message = "; ".join(said)
    return read


def describe_check(judge: Judge, check: JudgeCheck) -> str:
    """A check's running evidence in words, whatever its kind, and a goal's interval."""
    if check.kind not in KINDS:
        return check.name
    said = KINDS[check.kind].describe(check, rollback_at(judge))
    spec = next((c for c in judge.checks if c.label() == check.name), None)
    if spec is None or spec.require is None or check.goal_met is None:
        return said
    return f"{said}; {goals.describe(check, spec.require, not spec.compares_shares())}"


def _count_error(t: Tick, state: JudgeStatus, problem: str) -> None:
    """An unreadable look: counted as an analysis error; enough in a row pause."""
    analysis, limits = t.s.analysis, t.spec.analysis
    assert limits is not None
    analysis.errors += 1
    analysis.consecutive_errors += 1
    state.message = f"no look: {problem}"
    if analysis.consecutive_errors == 1:
        t.event("Warning", "AnalysisError", f"the judge: {problem}")
    if analysis.consecutive_errors >= limits.consecutive_error_limit:
        t.pause(
            Reason.ANALYSIS_ERRORS,
            f"{analysis.consecutive_errors} analysis errors in a row: paused until the "
            f"judge reads Prometheus again ({problem})",
        )
