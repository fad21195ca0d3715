"""Goals: a check that must show the canary not worse than stable (by more than its
tolerance), or better, before a step passes. Decided by anytime-valid tests, and shown
with a confidence interval that holds at every look at once.

A rate goal is decided by sequential.py's test turned round: H0 "the canary's rate is
at least c times stable's" (c = 1 + tolerance for notWorse, 1 for better; mirrored
where higher is better), rejected at evidence checks / falseRollbackRate; rejecting it
shows the canary below c. Its interval comes from the likelihood of the ratio on a grid
(RATIO_GRID), each grid point tested by the mixture over the whole grid: the interval
is the span of the points not rejected, widened to their neighbours.

A distribution goal (notWorse only: a distribution is shown not to differ, never to be
better) is met once every bucket's confidence sequence (shares.interval, the budget
split over the buckets) lies within the tolerance: within +-tolerance for
predictions, above -tolerance for latency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from modelrollout.api.judge_checks import LATENCY_KINDS, Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.engine import sequential, shares
from modelrollout.engine.sequential import Counts

# Ratios of the canary's rate to stable's, 1/100 to 100 in steps of 10^0.1 (26%).
RATIO_GRID: tuple[float, ...] = tuple(10 ** (k / 10) for k in range(-20, 21))


def goal_rho0(check: Check) -> tuple[float, bool]:
    """The boundary c a rate goal must show the canary beyond, and whether the test
    looks upward (for a rate where higher is better) or downward."""
    higher_is_better = check.better == "higher"
    tolerance = check.tolerance_value() if check.require == "notWorse" else 0.0
    return sequential.tolerated_ratio(tolerance, not higher_is_better), higher_is_better


def grid_update(grid: Sequence[float], growth: Counts) -> list[float]:
    """The conditional log likelihood of each grid ratio after one more interval."""
    n_c, n_s = growth.canary_requests, growth.stable_requests
    x_c, x_s = min(growth.canary_bad, n_c), min(growth.stable_bad, n_s)
    if n_c <= 0 or n_s <= 0 or x_c + x_s <= 0:
        return list(grid)
    share = n_c / (n_c + n_s)
    out = []
    for before, ratio in zip(grid, RATIO_GRID, strict=True):
        theta = sequential.canary_share_of_bad(share, ratio)
        out.append(before + x_c * math.log(theta) + x_s * math.log1p(-theta))
    return out


def ratio_interval(grid: Sequence[float], alpha: float) -> tuple[float, float] | None:
    """The ratios not rejected at level alpha, as an interval; None before any data."""
    if not grid or max(grid) == min(grid):
        return None
    top = max(grid)
    # E(r) = mean over the grid of L(g) / L(r); r is rejected when E(r) >= 1 / alpha.
    mixture = math.log(sum(math.exp(g - top) for g in grid) / len(grid)) + top
    kept = [i for i, g in enumerate(grid) if mixture - g < math.log(1.0 / alpha)]
    low, high = max(kept[0] - 1, 0), min(kept[-1] + 1, len(RATIO_GRID) - 1)
    return (
        0.0 if kept[0] == 0 else RATIO_GRID[low],
        math.inf if kept[-1] == len(RATIO_GRID) - 1 else RATIO_GRID[high],
    )


def shares_interval(check: JudgeCheck, alpha: float) -> tuple[float, float] | None:
    """The widest of the buckets' confidence sequences for canary minus stable, the
    budget split over the buckets."""
    per = alpha / max(check.slots, 1)
    bounds = [shares.interval(shift, check.weight, per) for shift in check.shifts]
    found = [b for b in bounds if b is not None]
    if not found:
        return None
    return min(b[0] for b in found), max(b[1] for b in found)


def shares_met(check: Check, interval: tuple[float, float] | None) -> bool:
    if interval is None:
        return False
    tolerance = check.tolerance_value()
    if check.kind in LATENCY_KINDS:  # one way: the canary not slower at any boundary
        return interval[0] > -tolerance
    return -tolerance < interval[0] and interval[1] < tolerance


def assess(check: Check, state: JudgeCheck, boundary: float) -> JudgeCheck:
    """A goal's interval and whether it is met, at the evidence `boundary` (checks /
    falseRollbackRate: the interval's level is 1 / boundary). Unchanged for a guard."""
    if check.require is None:
        return state
    alpha = 1.0 / boundary
    if check.compares_shares():
        interval = shares_interval(state, alpha)
        met = shares_met(check, interval)
    else:
        interval = ratio_interval(state.grid, alpha)
        met = sequential.evidence(state.goal_log_ratios) >= boundary
    bounds = [] if interval is None else [min(b, 1e300) for b in interval]
    # Shown once is shown: the test's guarantee holds at whatever look it rejected (the
    # evidence may dip below the boundary later; the claim stands).
    return state.model_copy(update={"interval": bounds, "goal_met": met or bool(state.goal_met)})


def describe(check: JudgeCheck, require: str, ratio: bool) -> str:
    """e.g. "goal better: met, canary/stable 1.26..1.58" ."""
    state = "met" if check.goal_met else "not yet"
    if len(check.interval) != 2:
        return f"goal {require}: {state}"
    low, high = check.interval
    if ratio:
        return f"goal {require}: {state}, canary/stable {low:.3g}..{high:.3g}"
    return f"goal {require}: {state}, shares moved {100 * low:+.1f}..{100 * high:+.1f} points"
