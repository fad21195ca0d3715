"""Engine tables: every transition of a canary rollout, without a cluster."""

from __future__ import annotations

from datetime import timedelta

from sim import World, healthy_world, measurement, spec

from modelrollout.api.vocabulary import ConditionType, Outcome, Phase, PromotionStage, Reason
from modelrollout.engine.conditions import condition
from modelrollout.engine.model import (
    ApplyRevision,
    Observations,
    PointServices,
    Request,
    RevisionObservation,
    RouteState,
    ScaleRevision,
    SetRoute,
)
from modelrollout.engine.rollout import decide

OK = Outcome.SUCCESSFUL


def start_rollout(world: World, version: str = "2.0.0") -> str:
    world.spec = spec(version)
    world.tick()
    assert world.status.canary is not None
    return world.status.canary.revision


def walk_to_promotion(world: World) -> None:
    """Tick with passing measurements until the canary is promoted (bounded)."""
    for _ in range(40):
        if world.status.canary is None:
            return
        world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=31))
    raise AssertionError(f"not promoted: {world.status.message}")


# -- first deployment ------------------------------------------------------------------


def test_first_deployment_goes_straight_to_healthy_without_canary() -> None:
    world = World(spec())
    first = world.tick()
    revision = world.spec.revision()
    assert ApplyRevision(revision, 4) in first.actions
    assert PointServices(revision, revision) in first.actions
    assert SetRoute(RouteState(canary_weight=0)) in first.actions
    assert world.status.phase == Phase.PROGRESSING
    assert world.status.canary is None
    world.tick()
    assert world.status.phase == Phase.HEALTHY
    assert world.status.stable is not None
    assert world.status.stable.ready_replicas == 4
    assert condition(world.status.conditions, ConditionType.READY).status == "True"  # type: ignore[union-attr]
    assert Reason.FIRST_DEPLOYMENT in world.reasons()


def test_first_deployment_never_ready_is_degraded_after_the_deadline() -> None:
    world = World(spec(progressDeadlineSeconds=60))
    world.ready_limit[world.spec.revision()] = 0
    world.tick()
    world.tick(advance=timedelta(seconds=30))
    assert world.status.phase == Phase.PROGRESSING
    world.tick(advance=timedelta(seconds=40))
    assert world.status.phase == Phase.DEGRADED
    assert Reason.PROGRESS_DEADLINE_EXCEEDED in world.reasons()


def test_default_progress_deadline_suits_slow_model_loads() -> None:
    assert spec().progress_deadline_seconds >= 1800


def test_a_new_version_replaces_a_first_deployment_that_never_served() -> None:
    world = World(spec("1.0.0"))
    old = world.spec.revision()
    world.ready_limit[old] = 0
    world.tick()
    world.spec = spec("1.0.1")
    world.tick()
    assert world.status.canary is None, "nothing served, so nothing to protect with a canary"
    assert world.status.stable is not None
    assert world.status.stable.version == "1.0.1"
    assert world.replicas[old] == 0


# -- a canary walks its steps ------------------------------------------------------------


def test_new_version_starts_a_canary_at_zero_weight_until_its_pods_are_ready() -> None:
    world = healthy_world()
    stable = world.spec.revision()
    world.spec = spec("2.0.0")
    canary = world.spec.revision()
    world.ready_limit[canary] = 0
    decision = world.tick()
    assert world.status.phase == Phase.PROGRESSING
    assert world.status.canary is not None
    assert world.status.canary.revision == canary
    assert ApplyRevision(canary, 1) in decision.actions, "sized for the first step's 10%"
    assert ScaleRevision(stable, 4) in decision.actions, "stable untouched, not re-templated"
    assert SetRoute(RouteState(canary_weight=0)) in decision.actions
    world.tick()
    assert world.weight == 0, "no traffic to a canary that is not ready"
    world.ready_limit.pop(canary)
    world.tick()
    assert world.weight == 10
    assert world.status.current_step == 1


def test_pause_step_needs_its_duration_and_a_successful_measurement() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick()  # setWeight 10
    assert world.status.current_step == 1
    world.tick(advance=timedelta(seconds=61))
    assert world.status.current_step == 1, "duration passed, but nothing measured yet"
    world.tick(measurements=(measurement(OK, world.now),))
    assert world.status.current_step == 2


def test_pause_step_does_not_end_before_its_duration() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick()
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=30))
    assert world.status.current_step == 1


def test_good_canary_walks_every_step_and_is_promoted_without_restarts() -> None:
    world = healthy_world()
    old = world.spec.revision()
    canary = start_rollout(world)
    walk_to_promotion(world)
    assert world.status.phase == Phase.HEALTHY
    assert world.status.stable is not None
    assert world.status.stable.revision == canary
    assert world.weights_seen == [0, 10, 50, 100, 0], "steps, all to canary, back via stable"
    assert world.services == (canary, canary), "the stable Service now selects the warm pods"
    assert world.status.history[0].outcome == "Promoted"
    assert world.replicas[old] == 4, "the old revision stays warm for scaleDownDelay"
    world.tick(advance=timedelta(seconds=31))
    assert world.replicas[old] == 0
    assert world.replicas[canary] == 4
    assert Reason.PROMOTED in world.reasons()


def test_promotion_switches_stable_service_only_after_all_traffic_is_on_the_canary() -> None:
    world = healthy_world()
    old = world.spec.revision()
    canary = start_rollout(world)
    seen: list[tuple[tuple[str, str] | None, int | None]] = []
    for _ in range(40):
        if world.status.canary is None:
            break
        world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=31))
        seen.append((world.services, world.weight))
    switch = seen.index(((canary, canary), 100))
    assert seen[switch - 1] == ((old, canary), 100)
    assert seen[switch + 1] == ((canary, canary), 0)


def test_promotion_scales_the_canary_to_full_size_before_moving_traffic() -> None:
    world = healthy_world()
    canary = start_rollout(world)
    for _ in range(8):
        world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=31))
        if world.status.promotion_stage is not None:
            break
    assert world.status.promotion_stage == PromotionStage.SCALE_UP
    world.ready_limit[canary] = 2
    for _ in range(3):
        world.tick()
    assert world.weight == 50, "no traffic moves until the canary has all its pods"
    world.ready_limit.pop(canary)
    world.tick()
    assert world.weight == 100


def test_promotion_happens_once_even_if_the_same_status_is_decided_again() -> None:
    world = healthy_world()
    start_rollout(world)
    walk_to_promotion(world)
    promoted = world.status.model_copy(deep=True)
    for _ in range(3):
        world.tick()
    assert [h.outcome for h in world.status.history] == ["Promoted"]
    assert world.status.stable is not None
    assert promoted.stable is not None
    assert world.status.stable.revision == promoted.stable.revision
    assert world.reasons().count(Reason.PROMOTED) == 1


def test_deciding_twice_from_the_same_status_gives_the_same_decision() -> None:
    """Crash safety: a process that dies after acting but before recording redoes the same."""
    world = healthy_world()
    start_rollout(world)
    world.tick()
    from modelrollout.engine.model import Observations
    from modelrollout.engine.rollout import decide

    obs = Observations(world.observations())
    now = world.now + timedelta(seconds=61)
    first = decide(world.spec, 1, world.status, obs, now)
    second = decide(world.spec, 1, world.status, obs, now)
    assert first == second


# -- analysis verdicts -------------------------------------------------------------------


def test_failures_beyond_the_limit_roll_back_at_once() -> None:
    world = healthy_world()
    stable = world.spec.revision()
    canary = start_rollout(world)
    world.tick()
    bad = measurement(Outcome.FAILED, world.now, value=0.2)
    world.tick(measurements=(bad,), advance=timedelta(seconds=31))
    assert world.status.phase == Phase.PROGRESSING, "failureLimit 1 tolerates one failure"
    world.tick(measurements=(bad,), advance=timedelta(seconds=31))
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.weight == 0
    assert world.status.canary is None
    assert world.status.aborted_revision == canary
    assert world.status.history[0].outcome == "RolledBack"
    rolled = condition(world.status.conditions, ConditionType.ROLLED_BACK)
    assert rolled is not None
    assert rolled.status == "True"
    assert rolled.reason == Reason.ANALYSIS_FAILED
    warning = [e for e in world.events if e.reason == Reason.ANALYSIS_FAILED][-1]
    assert warning.type == "Warning"
    assert "error-rate" in warning.message
    assert world.replicas[canary] == 1, "kept briefly for inspection"
    world.tick(advance=timedelta(seconds=31))
    assert world.replicas[canary] == 0
    assert world.replicas[stable] == 4


def test_rolled_back_stays_rolled_back_until_the_spec_changes() -> None:
    world = healthy_world()
    canary = start_rollout(world)
    world.tick()
    world.tick(request=Request("abort", "a1"))
    assert world.status.phase == Phase.ROLLED_BACK
    for _ in range(5):
        decision = world.tick(advance=timedelta(minutes=5))
        assert not any(
            isinstance(a, ApplyRevision) and a.revision == canary for a in decision.actions
        )
    assert world.status.phase == Phase.ROLLED_BACK
    world.spec = spec("3.0.0")
    world.tick()
    assert world.status.phase == Phase.PROGRESSING
    assert world.status.canary is not None
    assert world.status.canary.version == "3.0.0"


def test_retry_after_rollback_starts_the_same_version_again() -> None:
    world = healthy_world()
    canary = start_rollout(world)
    world.tick(request=Request("abort", "a1"))
    world.tick(request=Request("retry", "r1"))
    world.tick()
    assert world.status.canary is not None
    assert world.status.canary.revision == canary
    assert world.status.analysis.failed == 0
    assert Reason.RETRIED in world.reasons()


def test_reverting_the_spec_to_stable_after_a_rollback_is_healthy() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick(request=Request("abort", "a1"))
    world.spec = spec("1.0.0")
    world.tick()
    assert world.status.phase == Phase.HEALTHY
    assert world.status.aborted_revision is None


def test_inconclusive_pauses_and_never_promotes() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick()
    for _ in range(10):
        world.tick(
            measurements=(measurement(Outcome.INCONCLUSIVE, world.now, value=None),),
            advance=timedelta(seconds=31),
        )
    assert world.status.phase == Phase.PAUSED
    assert world.status.pause_reason == Reason.ANALYSIS_INCONCLUSIVE
    assert world.status.current_step == 1
    assert world.weight == 10
    assert world.status.analysis.inconclusive == 10
    assert world.status.analysis.successful == 0


def test_inconclusive_pause_lifts_only_on_a_real_pass() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick()
    world.tick(measurements=(measurement(Outcome.INCONCLUSIVE, world.now, None),))
    world.tick(advance=timedelta(minutes=2))
    world.tick(measurements=(measurement(Outcome.ERROR, world.now, None),))
    assert world.status.phase == Phase.PAUSED, "time and errors do not lift it"
    world.tick(measurements=(measurement(OK, world.now),))
    assert world.status.phase == Phase.PROGRESSING
    assert Reason.RESUMED in world.reasons()


def test_a_person_s_pause_is_not_lifted_by_the_analysis() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick()
    world.tick(request=Request("pause", "p1"))
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(minutes=2))
    assert world.status.phase == Phase.PAUSED
    assert world.status.pause_reason == Reason.PAUSED_BY_REQUEST


def test_a_failure_while_paused_still_rolls_back() -> None:
    strict = {**_analysis(), "failureLimit": 0}
    world = healthy_world(analysis=strict)
    world.spec = spec("2.0.0", analysis=strict)
    world.tick()
    world.tick()
    world.tick(measurements=(measurement(Outcome.INCONCLUSIVE, world.now, None),))
    world.tick(measurements=(measurement(Outcome.FAILED, world.now, 0.5),))
    assert world.status.phase == Phase.ROLLED_BACK


def _analysis() -> dict[str, object]:
    return {
        "prometheus": {"url": "http://prometheus:9090"},
        "interval": "30s",
        "consecutiveErrorLimit": 3,
        "metrics": [{"name": "error-rate", "template": "errorRate", "max": 0.01}],
    }


def test_errors_pause_after_the_limit_and_resume_when_prometheus_answers() -> None:
    world = healthy_world(analysis=_analysis())
    world.spec = spec("2.0.0", analysis=_analysis())
    world.tick()
    world.tick()
    error = measurement(Outcome.ERROR, world.now, None)
    for _ in range(2):
        world.tick(measurements=(error,), advance=timedelta(seconds=31))
    assert world.status.phase == Phase.PROGRESSING
    world.tick(measurements=(error,), advance=timedelta(seconds=31))
    assert world.status.phase == Phase.PAUSED
    assert world.status.pause_reason == Reason.ANALYSIS_ERRORS
    assert world.status.analysis.errors == 3
    assert world.status.analysis.failed == 0, "an unreachable Prometheus is not a failed check"
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=31))
    assert world.status.phase == Phase.PROGRESSING
    assert world.status.analysis.consecutive_errors == 0
    assert Reason.RESUMED in world.reasons()


# -- superseded, deadline, pauses, requests ------------------------------------------------


def test_newer_version_mid_rollout_supersedes_the_canary() -> None:
    world = healthy_world()
    stable = world.spec.revision()
    old_canary = start_rollout(world, "2.0.0")
    world.tick()
    assert world.weight == 10
    world.spec = spec("3.0.0")
    new_canary = world.spec.revision()
    world.ready_limit[new_canary] = 0
    world.tick()
    assert world.weight == 0, "the superseded canary gets no more traffic"
    assert world.status.canary is not None
    assert world.status.canary.revision == new_canary
    assert world.status.current_step == 0
    assert world.status.stable is not None
    assert world.status.stable.revision == stable
    assert world.status.history[0].outcome == "Superseded"
    assert world.replicas[old_canary] == 0


def test_canary_never_ready_is_rolled_back_at_the_progress_deadline() -> None:
    world = healthy_world(progressDeadlineSeconds=600)
    world.spec = spec("2.0.0", progressDeadlineSeconds=600)
    world.ready_limit[world.spec.revision()] = 0
    world.tick()
    world.tick(advance=timedelta(seconds=590))
    assert world.status.phase == Phase.PROGRESSING
    world.tick(advance=timedelta(seconds=20))
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.status.rollback_reason == Reason.PROGRESS_DEADLINE_EXCEEDED


def test_pause_without_duration_waits_for_promote() -> None:
    steps = {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]}}
    world = healthy_world(strategy=steps)
    world.spec = spec("2.0.0", strategy=steps)
    world.tick()
    world.tick()
    for _ in range(3):
        world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(hours=1))
    assert world.status.phase == Phase.PAUSED
    assert world.status.pause_reason == Reason.PAUSE_STEP
    world.tick(request=Request("promote", "p1"))
    assert world.status.current_step == 2, "past the pause; scaling the canary for 60%"
    world.tick(request=Request("promote", "p1"))  # the same request again: consumed once
    assert world.weight == 60
    assert world.status.current_step == 3
    assert world.status.canary is not None, "not promoted without a final measurement"


def test_spec_paused_holds_the_rollout() -> None:
    world = healthy_world()
    world.spec = spec("2.0.0", paused=True)
    world.tick()
    world.tick(advance=timedelta(minutes=5))
    assert world.status.phase == Phase.PAUSED
    assert world.weight == 0
    world.spec = spec("2.0.0", paused=False)
    world.tick()
    assert world.weight == 10


def test_full_promotion_request_skips_the_remaining_steps() -> None:
    world = healthy_world()
    canary = start_rollout(world)
    world.tick()
    world.tick(request=Request("promote-full", "f1"))
    for _ in range(4):
        world.tick()
    assert world.status.stable is not None
    assert world.status.stable.revision == canary
    assert world.status.history[0].reason == "fully promoted by request"


def test_a_promotion_by_its_steps_says_so_in_the_history() -> None:
    world = healthy_world()
    start_rollout(world)
    world.tick()
    world.tick(measurements=(measurement(Outcome.SUCCESSFUL, world.now),))
    for _ in range(12):
        world.tick(
            advance=timedelta(seconds=31),
            measurements=(measurement(Outcome.SUCCESSFUL, world.now),),
        )
    assert world.status.history[0].outcome == "Promoted"
    assert world.status.history[0].reason == "all steps passed"
    assert world.status.promotion_reason is None


def test_requests_without_a_rollout_are_ignored_with_an_event() -> None:
    world = healthy_world()
    world.tick(request=Request("abort", "a1"))
    assert world.status.phase == Phase.HEALTHY
    assert "RequestIgnored" in world.reasons()
    assert world.status.handled_request == "a1"


# -- housekeeping ------------------------------------------------------------------------------


def test_old_revisions_beyond_the_history_limit_are_deleted_once_scaled_down() -> None:
    world = healthy_world(revisionHistoryLimit=1)
    first = world.spec.revision()
    for version in ("2.0.0", "3.0.0"):
        world.spec = spec(version, revisionHistoryLimit=1)
        world.tick()
        walk_to_promotion(world)
        world.tick(advance=timedelta(minutes=1))
        world.tick()
    assert first in world.deleted
    assert len(world.replicas) == 2, "the stable and one previous revision remain"


def test_scale_changes_apply_to_the_stable_revision() -> None:
    world = healthy_world()
    world.spec = spec(replicas=6)
    decision = world.tick()
    assert ApplyRevision(world.spec.revision(), 6) in decision.actions
    assert world.status.canary is None, "scaling is not a rollout"
    world.tick()
    assert world.status.phase == Phase.HEALTHY
    assert world.status.stable is not None
    assert world.status.stable.ready_replicas == 6


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    world = healthy_world()
    ready = condition(world.status.conditions, ConditionType.READY)
    world.tick(advance=timedelta(minutes=10))
    again = condition(world.status.conditions, ConditionType.READY)
    assert ready is not None
    assert again is not None
    assert again.last_transition_time == ready.last_transition_time
    assert again.observed_generation == 1


def test_traffic_waits_until_the_canary_pods_are_behind_its_service() -> None:
    """The Deployment can report a pod ready before the EndpointSlice has it: no weight
    goes to a Service without a ready endpoint (Envoy would answer 503)."""
    world = healthy_world()
    canary = start_rollout(world)
    behind_nothing = {
        **world.observations(),
        canary: RevisionObservation(1, 0, serving=frozenset()),
    }
    for _ in range(3):
        world.status = decide(
            world.spec, 1, world.status, Observations(behind_nothing), world.now
        ).status
    assert world.status.canary is not None
    assert world.status.canary.weight == 0
    world.tick()
    assert world.status.canary.weight == 10


def test_promotion_moves_traffic_back_to_stable_only_once_it_reaches_the_canary() -> None:
    world = healthy_world()
    canary = start_rollout(world)
    world.tick(request=Request("promote-full", "p1"))
    while world.status.promotion_stage != PromotionStage.SWITCH_STABLE:
        world.tick()
    lagging = {
        **world.observations(),
        canary: RevisionObservation(4, 4, serving=frozenset({"canary"})),
    }
    for _ in range(3):
        decision = decide(world.spec, 1, world.status, Observations(lagging), world.now)
        world.status = decision.status
        assert world.status.promotion_stage == PromotionStage.SWITCH_STABLE
        assert SetRoute(RouteState(canary_weight=100)) in decision.actions
    assert "stable Service" in world.status.message
    world.tick()
    assert world.status.promotion_stage == PromotionStage.BACK_TO_STABLE


def test_a_rollback_takes_the_weight_off_before_re_pointing_the_canary_service() -> None:
    """Re-pointing a Service that still carries weight changes its backends under live
    traffic (a gateway may briefly see it without endpoints); weight goes first."""
    world = healthy_world()
    start_rollout(world)
    world.tick()
    assert world.status.canary is not None
    assert world.status.canary.weight == 10
    rollback = world.tick(request=Request("abort", "a1"))
    order = [type(a) for a in rollback.actions if isinstance(a, SetRoute | PointServices)]
    assert order == [SetRoute, PointServices]
    stable = world.status.stable
    assert stable is not None
    assert world.services == (stable.revision, stable.revision)
    rising = world  # and a canary that gains weight gets its Service first
    rising.spec = spec("3.0.0")
    rising.tick()
    step = rising.tick()
    assert [type(a) for a in step.actions if isinstance(a, SetRoute | PointServices)] == [
        PointServices,
        SetRoute,
    ]
