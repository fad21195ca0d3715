"""Engine tables: traffic moves forward only on fresh evidence and only once the route
carries the step before it; an edited plan is followed from a safe step, never off its end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sim import World, healthy_world, measurement, spec

from modelrollout.api.vocabulary import Outcome, Phase, PromotionStage, Reason
from modelrollout.engine.model import Request
from modelrollout.engine.plan import resume_at

OK, ERROR, FAILED = Outcome.SUCCESSFUL, Outcome.ERROR, Outcome.FAILED
PAUSE_1M = {"pause": {"duration": "1m"}}


def steps(*items: Any) -> dict[str, Any]:
    return {"canary": {"steps": [{"setWeight": i} if isinstance(i, int) else i for i in items]}}


def rolling(strategy: dict[str, Any] | None = None) -> World:
    """A rollout at its first step's weight (10% by default)."""
    overrides = {"strategy": strategy} if strategy else {}
    world = healthy_world(**overrides)
    world.spec = spec("2.0.0", **overrides)
    world.tick()
    world.tick()
    assert world.status.canary is not None
    return world


def ok(world: World, advance: timedelta = timedelta(seconds=1)) -> None:
    world.tick(measurements=(measurement(OK, world.now + advance),), advance=advance)


# -- fresh evidence ------------------------------------------------------------------------


def test_a_pause_does_not_end_on_a_success_older_than_the_newest_run() -> None:
    """Prometheus stopped answering just before the pause ended: the weight holds."""
    world = rolling()
    assert world.weight == 10
    ok(world, timedelta(seconds=31))
    world.tick(measurements=(measurement(ERROR, world.now, None),), advance=timedelta(seconds=30))
    assert world.status.phase == Phase.PROGRESSING, "one error is within the limit"
    world.tick(advance=timedelta(seconds=1))  # the pause's minute is over
    assert world.weight == 10
    assert world.status.current_step == 1
    assert "a successful measurement (the latest did not succeed)" in world.status.message
    ok(world)
    assert world.status.current_step == 2
    world.tick()  # the canary is sized for 50%
    world.tick()
    assert world.weight == 50


def test_a_pause_does_not_end_on_a_success_older_than_one_interval() -> None:
    world = rolling()
    ok(world, timedelta(seconds=31))
    world.tick(advance=timedelta(seconds=31))  # no run since (none was taken): too old
    assert world.status.current_step == 1
    assert world.status.message.endswith("a successful measurement newer than 30s")
    ok(world)
    assert world.status.current_step == 2


@pytest.mark.parametrize("outcome", [ERROR, FAILED, Outcome.INCONCLUSIVE])
def test_a_weight_step_after_a_weight_needs_a_successful_newest_run(outcome: Outcome) -> None:
    """[10, 50]: the canary gets 50% only once a run at 10% succeeded, and only while the
    newest run is that success."""
    world = rolling(steps(10, 50, PAUSE_1M))
    world.tick()  # the canary is sized for 50%
    world.tick()
    assert world.weight == 10, "no evidence yet at 10%"
    assert world.status.message == "step 2/3: waiting for a successful measurement"
    world.tick(measurements=(measurement(outcome, world.now, None),), advance=timedelta(seconds=31))
    world.tick()
    assert world.weight == 10
    assert world.status.canary is not None, "within failureLimit: not rolled back"
    assert world.status.canary.weight == 10


def test_the_first_weight_needs_no_evidence_and_a_lower_weight_never_waits() -> None:
    """Evidence is of the canary's traffic: none before it has any; and less traffic is
    never held (a plan edited down lowers the weight at once, below)."""
    world = healthy_world(strategy=steps(10, PAUSE_1M))
    world.spec = spec("2.0.0", strategy=steps(10, PAUSE_1M))
    world.tick()
    world.tick()
    assert world.weight == 10


def test_a_mirror_and_a_header_route_after_traffic_need_fresh_evidence() -> None:
    mirror = {"mirror": {"percent": 50}}
    header = {"headerRoute": {"match": [{"header": {"name": "x-canary", "value": "1"}}]}}
    world = rolling(steps(mirror, PAUSE_1M, header, PAUSE_1M))
    assert world.status.canary is not None
    assert world.status.canary.mirror == 50
    ok(world, timedelta(seconds=31))
    ok(world, timedelta(seconds=30))  # the pause ends on this run
    assert world.status.current_step == 2
    world.tick(measurements=(measurement(ERROR, world.now, None),), advance=timedelta(seconds=31))
    assert world.status.canary is not None
    assert world.status.canary.header_route == [], "no header route on a failed run"
    ok(world)
    assert world.status.canary is not None
    assert [h.name for h in world.status.canary.header_route] == ["x-canary"]


def test_promotion_waits_for_fresh_evidence_too() -> None:
    world = rolling(steps(10, PAUSE_1M))
    ok(world, timedelta(seconds=31))
    ok(world, timedelta(seconds=30))
    assert world.status.current_step == 2, "all steps done"
    world.tick(measurements=(measurement(ERROR, world.now, None),), advance=timedelta(seconds=31))
    world.tick()
    assert world.status.promotion_stage is None
    assert world.status.message.startswith("all steps done: waiting for a successful measurement")
    ok(world)
    assert world.status.promotion_stage == PromotionStage.SCALE_UP


def test_a_person_s_promotion_is_not_held_by_evidence() -> None:
    world = rolling(steps(10, PAUSE_1M))
    world.tick(measurements=(measurement(ERROR, world.now, None),), advance=timedelta(seconds=31))
    world.tick(request=Request("promote-full", "p1"))
    assert world.status.promotion_stage is not None


def test_a_rollback_never_waits_for_evidence() -> None:
    world = rolling()
    world.tick(measurements=(measurement(ERROR, world.now, None),), advance=timedelta(seconds=31))
    for _ in range(2):
        world.tick(
            measurements=(measurement(FAILED, world.now, 0.5),), advance=timedelta(seconds=31)
        )
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.weight == 0


# -- done means on the route -----------------------------------------------------------


def test_no_step_is_taken_until_the_route_carries_the_last_one() -> None:
    world = rolling()
    world.route_refuses = True
    ok(world, timedelta(seconds=61))
    ok(world, timedelta(seconds=1))
    assert world.status.current_step == 2, "the pause ended; step 3 sets 50%"
    world.tick()
    world.tick()
    assert world.status.canary is not None
    assert world.status.canary.weight == 50
    assert world.weight == 10, "the route refused the write"
    ok(world, timedelta(seconds=61))
    assert world.status.current_step == 3
    assert world.status.message == "waiting for the route to carry canary weight 50%"
    world.route_refuses = False
    world.tick()  # the route is written again (re-asserted) ...
    ok(world)  # ... and now the pause can end
    assert world.weight == 50
    assert world.status.current_step == 4


def test_a_promotion_stage_moves_on_only_once_the_route_carries_it() -> None:
    world = rolling(steps(10, PAUSE_1M))
    ok(world, timedelta(seconds=61))
    ok(world)
    assert world.status.promotion_stage == PromotionStage.SCALE_UP
    world.route_refuses = True
    for _ in range(4):
        world.tick()
    assert world.status.promotion_stage == PromotionStage.ALL_TO_CANARY
    assert world.status.message == "promoting: waiting for the route to carry canary weight 100%"
    world.route_refuses = False
    for _ in range(6):
        world.tick()
    assert world.status.canary is None
    assert world.status.history[0].outcome == "Promoted"


# -- an edited plan ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "weight", "expected"),
    [
        ([10, PAUSE_1M, 50, PAUSE_1M], 0, 0),
        ([10, PAUSE_1M, 50, PAUSE_1M], 10, 0),
        ([10, PAUSE_1M, 50, PAUSE_1M], 20, 2),
        ([10, PAUSE_1M, 50, PAUSE_1M], 50, 2),
        ([10, PAUSE_1M, 50, PAUSE_1M], 60, None),
        ([{"mirror": {"percent": 100}}, 10, 50], 0, 0),
        ([{"mirror": {"percent": 100}}, 10, 50], 5, 1),
        ([PAUSE_1M, 100], 100, 1),
    ],
)
def test_resume_at_the_first_step_whose_weight_is_not_below(
    plan: list[Any], weight: int, expected: int | None
) -> None:
    assert resume_at(spec(strategy=steps(*plan)), weight) == expected


def at_step_4_of_20_pause_50_pause() -> World:
    """The issue's rollout: at step 4 of [20, pause, 50, pause 60s]."""
    plan = steps(20, {"pause": {}}, 50, PAUSE_1M)
    world = rolling(plan)
    world.tick(request=Request("promote", "p1"))
    world.tick()
    assert world.status.message == "step 3/4: waiting for a successful measurement"
    ok(world)
    assert world.weight == 50
    assert world.status.current_step == 3
    return world


def test_a_shorter_plan_below_the_weight_restarts_and_never_promotes() -> None:
    world = at_step_4_of_20_pause_50_pause()
    world.spec = spec("2.0.0", strategy=steps(10, {"pause": {"duration": "1h"}}))
    ok(world)
    assert world.status.promotion_stage is None, "never promoted by the edit"
    changed = [e.message for e in world.events if e.reason == Reason.PLAN_CHANGED]
    assert changed == [
        "the rollout's plan changed: restarting from step 1 with no live traffic on the "
        "canary: no step of the new plan keeps its 50% weight"
    ]
    # From no traffic, the first step needs no evidence: 50% -> 10% in one decision.
    assert world.status.current_step == 1
    assert world.weight == 10
    ok(world, timedelta(minutes=30))
    assert world.status.current_step == 1, "the new plan's hour is followed"
    assert world.status.canary is not None


def test_a_longer_plan_resumes_at_the_current_weight() -> None:
    world = at_step_4_of_20_pause_50_pause()
    world.spec = spec("2.0.0", strategy=steps(20, PAUSE_1M, 50, PAUSE_1M, 80, PAUSE_1M))
    ok(world)
    assert world.weight == 50
    assert world.status.current_step == 3, "setWeight 50 (index 2) taken again, then its pause"
    changed = [e.message for e in world.events if e.reason == Reason.PLAN_CHANGED]
    assert changed == [
        "the rollout's plan changed: resuming at step 3/6, the first whose weight is not "
        "below the canary's 50%"
    ]
    for _ in range(6):
        ok(world, timedelta(seconds=61))
    assert 80 in world.weights_seen
    assert world.weights_seen.index(80) > world.weights_seen.index(50)


def test_a_reordered_plan_is_followed_and_a_person_s_old_wait_lifts() -> None:
    plan = steps(20, {"pause": {}}, 50, PAUSE_1M)
    world = rolling(plan)
    world.tick()
    assert world.status.pause_reason == Reason.PAUSE_STEP
    world.spec = spec("2.0.0", strategy=steps(20, 30, PAUSE_1M, 60, {"pause": {}}))
    ok(world)
    assert world.status.pause_reason is None
    assert world.status.current_step == 1, "setWeight 20 (step 1) taken again"
    world.tick()  # the canary is sized for 30%
    world.tick()
    assert world.weight == 30


def test_a_changed_strategy_restarts_from_the_start() -> None:
    world = rolling()
    assert world.weight == 10
    world.spec = spec("2.0.0", strategy={"blueGreen": {}})
    world.tick()
    assert world.weight == 0
    assert world.status.canary is not None
    assert any("the strategy changed" in e.message for e in world.events)


def test_an_index_past_the_end_from_an_older_status_never_promotes() -> None:
    world = at_step_4_of_20_pause_50_pause()
    world.status.plan = None
    world.status.current_step = 9
    world.tick()
    assert world.status.promotion_stage is None
    assert world.status.current_step == 3, "resumed at setWeight 50 (step 3), taken again"
    assert world.weight == 50


def test_an_unchanged_plan_changes_nothing() -> None:
    world = rolling()
    before = world.status.plan
    assert before is not None
    ok(world, timedelta(seconds=31))
    assert world.status.plan == before
    assert Reason.PLAN_CHANGED not in world.reasons()


def test_the_owners_empty_filter_lists_are_remembered_while_our_mirror_hides_them() -> None:
    world = healthy_world()
    world.tick(route_empty_filters=(0, 2))
    assert world.status.route_empty_filters == [0, 2]
    world.tick(route_empty_filters=None)  # our mirror is on the route: nothing to see
    assert world.status.route_empty_filters == [0, 2]
    assert world.route is not None
    assert world.route.empty_filters == (0, 2)
    world.tick(route_empty_filters=())  # the owner dropped them
    assert world.status.route_empty_filters == []
