"""A rate check (errors, ratio, latency with a threshold): the canary's rate of
counted requests against stable's, tested by the mixture SPRT of sequential.py."""

from __future__ import annotations

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.engine import goals, sequential
from modelrollout.engine.checks.look import Look, times
from modelrollout.engine.sequential import Counts


def start(check: Check) -> JudgeCheck:
    goal = check.require is not None
    return JudgeCheck(
        name=check.label(),
        kind=check.kind,
        log_ratios=sequential.start(),
        goal_log_ratios=sequential.start(sequential.GOAL_ALTERNATIVES) if goal else [],
        grid=[0.0] * len(goals.RATIO_GRID) if goal else [],
    )


def take(
    check: Check, old: JudgeCheck | None, counts: Counts | None, missing: str, higher_is_worse: bool
) -> Look:
    """Add the growth since the last look to the evidence. A count lower than at the last
    look (a window's edge, a counter Prometheus could not follow) adds nothing, and growth
    on one side only waits: the next look counts from the last one that took evidence."""
    before = old if old is not None and old.log_ratios else start(check)
    if counts is None:
        return Look(before, missing)
    growth = _growth(before, counts)
    if growth is None:
        return Look(before, "a count went down, no evidence taken from this look")
    # Growth on one side only (Prometheus scraped only its pods since the last look)
    # waits for the next look, where the other side's requests give it a share.
    if min(growth.canary_requests, growth.stable_requests) <= 0:
        return Look(before)
    guard = sequential.tolerated_ratio(check.tolerance_value(), higher_is_worse)
    log_ratios = sequential.update(before.log_ratios, growth, guard, higher_is_worse)
    goal: dict[str, list[float]] = {}
    if check.require is not None:
        rho0, upward = goals.goal_rho0(check)
        goal_log_ratios = before.goal_log_ratios or sequential.start(sequential.GOAL_ALTERNATIVES)
        goal = {
            "goal_log_ratios": sequential.update(
                goal_log_ratios, growth, rho0, upward, sequential.GOAL_ALTERNATIVES
            ),
            "grid": goals.grid_update(before.grid or [0.0] * len(goals.RATIO_GRID), growth),
        }
    after = before.model_copy(
        update={
            **goal,
            "canary_requests": counts.canary_requests,
            "canary_bad": counts.canary_bad,
            "stable_requests": counts.stable_requests,
            "stable_bad": counts.stable_bad,
            "log_ratios": log_ratios,
            "evidence": sequential.evidence(log_ratios),
        }
    )
    return Look(after, canary_requests=growth.canary_requests)


def _growth(old: JudgeCheck, new: Counts) -> Counts | None:
    growth = Counts(
        canary_requests=new.canary_requests - old.canary_requests,
        canary_bad=new.canary_bad - old.canary_bad,
        stable_requests=new.stable_requests - old.stable_requests,
        stable_bad=new.stable_bad - old.stable_bad,
    )
    parts = (growth.canary_requests, growth.canary_bad, growth.stable_requests, growth.stable_bad)
    return None if min(parts) < 0 else growth


def describe(check: JudgeCheck, what: str, boundary: float) -> str:
    """e.g. "errors: canary 4.1% (41/1000) vs stable 0.3% (57/19000), evidence 87x
    (rollback at 100x)"."""
    return (
        f"{check.name} ({what}): canary {_rate(check.canary_bad, check.canary_requests)} vs "
        f"stable {_rate(check.stable_bad, check.stable_requests)}, evidence "
        f"{times(check.evidence)} (rollback at {times(boundary)})"
    )


def _rate(bad: float, requests: float) -> str:
    share = f"{100 * bad / requests:.1f}%" if requests > 0 else "n/a"
    return f"{share} ({bad:.0f}/{requests:.0f})"
