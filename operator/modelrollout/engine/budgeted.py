"""The revisions' sizes in a tick: by their share of the total, within the budget.

`resize` sizes the canary for a share of the total (mirrored copies count as load)
and stable for what is left: without a budget stable keeps its full size and the
canary comes on top; with one, a move (capacity.py) takes pods from stable as traffic
leaves it, and says how much weight the canary may carry now. A rollback or a
supersede under a budget hands the canary's traffic back only as fast as stable's
pods return (`start_hand_back`, `hand_back`).
"""

from __future__ import annotations

from modelrollout.api.status import RevisionStatus
from modelrollout.api.vocabulary import Reason
from modelrollout.engine.capacity import (
    Budget,
    Side,
    budget_of,
    move,
    pods_for,
    ratio_weight,
    target_pods,
)
from modelrollout.engine.model import RevisionObservation
from modelrollout.engine.tick import Tick


def _side(t: Tick, rev: RevisionStatus) -> Side:
    """A revision as the cluster holds it (what it was last asked for, not what this
    tick has decided so far)."""
    seen = t.obs.revisions.get(rev.revision)
    if seen is None:
        return Side(0, 0, 0)
    return Side(seen.replicas, _pods(seen), seen.ready_replicas)


def _pods(seen: RevisionObservation) -> int:
    return max(seen.pods, seen.replicas)  # pods counts the asked-for ones when reported


def _others(t: Tick, *inside: RevisionStatus) -> int:
    """Pods of our revisions outside the move (a warm previous one, one scaling down)."""
    names = {rev.revision for rev in inside}
    return sum(_pods(seen) for revision, seen in t.obs.revisions.items() if revision not in names)


def expressible(t: Tick, weight: int) -> int:
    """The weight the route can carry: any, or with replicaRatio what whole pods can."""
    return ratio_weight(t.spec.replicas, weight) if t.spec.splits_by_pods() else weight


def resize(t: Tick, share: int, goal: int) -> None:
    """Size canary and stable for the canary's `share` of the total on the way to
    `goal` percent of live traffic, and say (`t.weight_allowed`) the weight the canary
    may carry now."""
    total, canary, stable = t.spec.replicas, t.canary, t.stable
    share, goal = expressible(t, share), expressible(t, goal)
    budget = budget_of(t.spec)
    if budget is None:
        canary.replicas = min(max(pods_for(total, share), 1), max(total, 1))
        stable.replicas = total
        t.weight_allowed = goal
        return
    target = target_pods(budget, share, goal)
    stable_side = _side(t, stable)
    m = move(
        budget,
        _side(t, canary),
        stable_side,
        _others(t, canary, stable),
        target,
        goal,
        canary.weight,
    )
    canary.replicas = m.growing
    # Stable gives way only once the route carries the weight that lets it.
    held = max(m.giving_way, stable_side.replicas)
    stable.replicas = m.giving_way if t.obs.route_carried else held
    t.weight_allowed = m.weight


def reclaim(t: Tick) -> None:
    """A rollout under a budget starts by scaling down what waits to be (its pods
    count against the budget)."""
    if budget_of(t.spec) is not None:
        for pending in t.s.scale_downs:
            pending.at = min(pending.at, t.now)


def start_hand_back(t: Tick, leaving: RevisionStatus) -> None:
    """A canary that loses its traffic (already set to 0 on `leaving`'s copy) keeps
    the part stable's ready pods cannot carry yet, under a budget."""
    budget = budget_of(t.spec)
    if budget is None or leaving.weight == 0:
        return
    stable = _side(t, t.stable)
    if stable.ready >= budget.total:
        return
    t.s.returning = leaving.model_copy(update={"mirror": 0, "header_route": []})
    t.stable.weight = 100 - leaving.weight


def hand_back(t: Tick) -> None:
    """Stable grows back within the budget and takes the traffic its ready pods can
    carry; the returning revision keeps the rest, then leaves once the route no longer
    sends it any and stable has its full size."""
    returning = t.s.returning
    if returning is None:
        return
    total, stable, was = t.spec.replicas, t.stable, returning.weight
    budget = budget_of(t.spec) or Budget(total, returning.replicas + total)
    returning_side = _side(t, returning)
    m = move(
        budget,
        _side(t, stable),
        returning_side,
        _others(t, stable, returning),
        target_pods(budget, 100, 100),
        100,
        100 - was,
    )
    stable.replicas = m.growing
    if t.obs.route_carried:
        returning.replicas = min(m.giving_way, returning_side.replicas)
    returning.weight, stable.weight = 100 - m.weight, m.weight
    t.observe(returning)
    if was == 0 and t.obs.route_carried and stable.replicas >= total:
        t.s.returning = None
        t.event("Normal", Reason.TRAFFIC_HANDED_BACK, _handed_back(t, returning))
        return
    t.s.message = (
        f"handing traffic back to version {stable.version}: "
        f"{stable.ready_replicas}/{total} of its pods ready, "
        f"{returning.weight}% still on version {returning.version}"
    )


def _handed_back(t: Tick, returning: RevisionStatus) -> str:
    return f"version {t.stable.version} carries all traffic again ({returning.version} left)"
