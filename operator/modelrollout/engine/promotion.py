"""Promotion: traffic and the stable pointer move to the canary's warm pods; nothing restarts.

Four stages, one tick each so the data plane can follow; a stage that moves traffic
is done only once the route carries it. The table says what each
implies for the cluster (desired.py reads it) and which stage comes next.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelrollout.api.durations import parse_duration
from modelrollout.api.status import ModelDeploymentStatus, RevisionStatus
from modelrollout.api.vocabulary import Phase, PromotionStage, Reason
from modelrollout.engine.budgeted import resize
from modelrollout.engine.model import RouteState
from modelrollout.engine.rollback import wait_for_pods_or_roll_back
from modelrollout.engine.tick import Tick


@dataclass(frozen=True)
class StageEffect:
    # Canary weight on the route; None: the canary's own weight (unchanged).
    weight: int | None
    # The stable Service selects the canary's pods.
    stable_on_canary: bool
    next: PromotionStage | None


STAGES: dict[PromotionStage, StageEffect] = {
    PromotionStage.SCALE_UP: StageEffect(None, False, PromotionStage.ALL_TO_CANARY),
    PromotionStage.ALL_TO_CANARY: StageEffect(100, False, PromotionStage.SWITCH_STABLE),
    PromotionStage.SWITCH_STABLE: StageEffect(100, True, PromotionStage.BACK_TO_STABLE),
    PromotionStage.BACK_TO_STABLE: StageEffect(0, True, None),
}


def route_state(status: ModelDeploymentStatus) -> RouteState:
    """What the route carries in this status: the canary's weight, mirror and header
    route, or the weight a promotion stage implies."""
    canary, stage = status.canary, status.promotion_stage
    returning = status.returning  # a rollback under a budget, not yet done
    weight = canary.weight if canary else returning.weight if returning else 0
    effect = STAGES[stage] if stage is not None else None
    if effect is not None and effect.weight is not None:
        weight = effect.weight
    empty = tuple(status.route_empty_filters)
    if canary is None:
        return RouteState(weight, empty_filters=empty)
    return RouteState(weight, canary.mirror, tuple(canary.header_route), empty)


def verdict_is_in(stage: PromotionStage | None) -> bool:
    """Once traffic moves over for good, no more measurements are taken."""
    return stage is not None and stage != PromotionStage.SCALE_UP


def begin_promotion(t: Tick, message: str, why: str) -> None:
    """Start promoting; `why` ends up in the history entry. A mirror and a header route
    end here: from now on traffic follows the promotion's weights only."""
    t.set_mirror(0)
    t.set_header_route(())
    t.s.pause_reason = None
    t.s.promotion_stage = PromotionStage.SCALE_UP
    t.s.promotion_reason = why
    t.emit(Reason.PROMOTING, message)


def promote(t: Tick) -> None:
    """Take the promotion one stage further (each stage is one tick)."""
    resize(t, 100, 100)
    stage = t.s.promotion_stage or PromotionStage.SCALE_UP
    if stage == PromotionStage.SCALE_UP:
        if wait_for_pods_or_roll_back(t, "promoting: canary at full size", promoting=True):
            return
        if t.weight_allowed < 100:  # under a budget: weight as the canary's pods are ready
            if t.obs.route_carried and t.weight_allowed > t.canary.weight:
                t.set_weight(t.weight_allowed)
                t.s.step_started_at = t.now  # progress: the deadline counts from here
            t.s.message = (
                f"promoting within the budget: canary weight {t.canary.weight}%, "
                f"{t.canary.ready_replicas}/{t.spec.replicas} canary pods ready"
            )
            return
        t.set_weight(100)
    if stage == PromotionStage.SWITCH_STABLE and not t.stable_service_on_canary():
        t.s.message = "promoting: waiting for the stable Service to reach the canary's pods"
        return
    if stage != PromotionStage.SCALE_UP and not t.obs.route_carried:
        t.s.message = f"promoting: waiting for the route to carry {route_state(t.s).describe()}"
        return
    following = STAGES[stage].next
    if following is not None:
        t.s.promotion_stage = following
        return
    _finish(t)


def _finish(t: Tick) -> None:
    canary, old = t.canary, t.stable
    t.record("Promoted", t.s.promotion_reason or "all steps passed")
    t.s.stable = RevisionStatus(
        version=canary.version,
        revision=canary.revision,
        digest=canary.digest,
        weight=100,
        replicas=t.spec.replicas,
        ready_replicas=canary.ready_replicas,
    )
    delay = t.spec.strategy.scale_down_delay()
    t.schedule_scale_down(old.revision, parse_duration(delay))
    t.end_rollout()
    if t.traits.analysis_after_switch and t.spec.analysis is not None:
        # Post-promotion analysis while the previous revision stays warm.
        t.s.previous = old.model_copy(update={"weight": 0})
        t.s.post_promotion_until = t.now + parse_duration(delay)
        t.s.analysis.last_run_at = t.now
    t.s.phase = Phase.HEALTHY
    after = "now" if t.spec.splits_by_pods() else f"after {delay}"
    t.emit(Reason.PROMOTED, f"version {canary.version} promoted; {old.version} scales down {after}")
