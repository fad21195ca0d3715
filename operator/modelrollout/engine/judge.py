"""The comparative judge in a rollout: when it looks, and what a look implies.

After every scrape while the canary gets traffic, the reconciler reads what canary and
stable served since the judge began (cumulative counts per check); this module turns
the growth since the last look into evidence (sequential.py) and rolls back the moment
the evidence reaches 1 / falseRollbackRate. A step passes the judge once the canary
served minSampleSize requests in it without that happening. No data, a count that went
down and an unreachable Prometheus add no evidence and never pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from modelrollout.api.spec import Judge, ModelDeploymentSpec
from modelrollout.api.status import JudgeCheck, JudgeStatus, ModelDeploymentStatus
from modelrollout.api.vocabulary import Reason
from modelrollout.engine import sequential
from modelrollout.engine.model import JudgeReading
from modelrollout.engine.promotion import verdict_is_in
from modelrollout.engine.rollback import roll_back
from modelrollout.engine.sequential import Counts
from modelrollout.engine.tick import TRAITS, Tick

ERRORS, LATENCY = "errors", "latency"


def checks(judge: Judge) -> tuple[str, ...]:
    """What the judge compares: errors always, latency with a threshold."""
    return (ERRORS, LATENCY) if judge.latency_threshold is not None else (ERRORS,)


def rollback_at(judge: Judge) -> float:
    """The evidence any check needs to roll back: falseRollbackRate is split over the
    checks, so errors and latency together roll back a good canary at most that often."""
    return sequential.boundary(judge.false_rollback_rate, len(checks(judge)))


def judge_since(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """Where the judge's counts start, while the judge applies (None otherwise): fixed
    at its first look; before that, when the canary's traffic last changed."""
    canary = status.canary
    if spec.analysis is None or spec.analysis.judge is None or canary is None:
        return None
    if not (canary.gets_traffic() or TRAITS[spec.strategy.kind].judged_without_weight):
        return None
    if verdict_is_in(status.promotion_stage):
        return None
    judge = status.analysis.judge
    if judge is not None and judge.since is not None:
        return judge.since
    return status.weight_set_at or status.step_started_at


def next_look_at(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """One scrape after the previous look (or after counting began)."""
    since = judge_since(spec, status)
    if since is None or spec.analysis is None:
        return None
    judge = status.analysis.judge
    last = judge.evaluated_at if judge is not None and judge.evaluated_at else since
    return max(last, since) + spec.analysis.scrape_delta()


def look_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    due = next_look_at(spec, status)
    return due is not None and now >= due


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
    if reading.counts is None:
        state.message = f"no evidence yet: {reading.problem}"
        return False
    state.read_at = t.now
    worst = _take(state, reading.counts, analysis.judge)
    if reading.problem:
        state.message += f" ({reading.problem})"
    if worst is not None and worst.evidence >= rollback_at(analysis.judge):
        roll_back(t, Reason.CANARY_WORSE, f"the judge: {state.message}")
        return True
    return False


def _take(state: JudgeStatus, counts: Mapping[str, Counts], judge: Judge) -> JudgeCheck | None:
    """Add the growth since the last look to each check's evidence; the check with the
    most evidence. A count lower than at the last look (a window's edge or a counter
    Prometheus could not follow) adds nothing, and growth on one side only waits: the
    next look counts from the last one that took evidence."""
    before = {c.name: c for c in state.checks}
    taken: list[JudgeCheck] = []
    went_down: list[str] = []
    for name in checks(judge):
        old = before.get(name) or JudgeCheck(name=name, log_ratios=sequential.start())
        new = counts.get(name)
        growth = None if new is None else _growth(old, new)
        if new is not None and growth is None:
            went_down.append(name)
        # Growth on one side only (Prometheus scraped only its pods since the last look)
        # waits for the next look, where the other side's requests give it a share.
        if (
            new is None
            or growth is None
            or min(growth.canary_requests, growth.stable_requests) <= 0
        ):
            taken.append(old)
            continue
        log_ratios = sequential.update(old.log_ratios, growth, judge.tolerance)
        taken.append(_checked(name, new, log_ratios))
        if name == ERRORS:
            state.step_requests += growth.canary_requests
    state.checks = taken
    said = "; ".join(describe(c, rollback_at(judge)) for c in taken)
    if went_down:
        said += f" ({', '.join(went_down)}: a count went down, no evidence taken from this look)"
    state.message = said
    return max(taken, key=lambda c: c.evidence, default=None)


def _growth(old: JudgeCheck, new: Counts) -> Counts | None:
    growth = Counts(
        canary_requests=new.canary_requests - old.canary_requests,
        canary_bad=new.canary_bad - old.canary_bad,
        stable_requests=new.stable_requests - old.stable_requests,
        stable_bad=new.stable_bad - old.stable_bad,
    )
    parts = (growth.canary_requests, growth.canary_bad, growth.stable_requests, growth.stable_bad)
    return None if min(parts) < 0 else growth


def _checked(name: str, counts: Counts, log_ratios: list[float]) -> JudgeCheck:
    return JudgeCheck(
        name=name,
        canary_requests=counts.canary_requests,
        canary_bad=counts.canary_bad,
        stable_requests=counts.stable_requests,
        stable_bad=counts.stable_bad,
        log_ratios=log_ratios,
        evidence=sequential.evidence(log_ratios),
    )


def describe(check: JudgeCheck, boundary: float) -> str:
    """e.g. "errors: canary 4.1% (41/1000) vs stable 0.3% (57/19000), evidence 87x
    (rollback at 100x)"."""
    what = "errors" if check.name == ERRORS else "slow requests"
    return (
        f"{what}: canary {_rate(check.canary_bad, check.canary_requests)} vs stable "
        f"{_rate(check.stable_bad, check.stable_requests)}, evidence "
        f"{_times(check.evidence)} (rollback at {_times(boundary)})"
    )


def _rate(bad: float, requests: float) -> str:
    share = f"{100 * bad / requests:.1f}%" if requests > 0 else "n/a"
    return f"{share} ({bad:.0f}/{requests:.0f})"


def _times(value: float) -> str:
    return f"{value:.3g}x" if value < 1e6 else f"{value:.1e}x"


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
