"""Mirror and header-route steps, and blue/green preview traffic: what the route carries
at every point of a rollout, and that it is gone after every way a rollout ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sim import World, healthy_world, measurement, spec

from modelrollout.api.route_parts import HeaderMatch
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import Outcome, Phase, Reason
from modelrollout.engine.analysis import analysis_due
from modelrollout.engine.desired import route_features
from modelrollout.engine.model import Request, RouteState

OK, FAILED = Outcome.SUCCESSFUL, Outcome.FAILED
X_CANARY = {"header": {"name": "X-Canary", "value": "true"}}
X_CANARY_HEADER = HeaderMatch(name="X-Canary", value="true")
STEPS: list[dict[str, Any]] = [
    {"mirror": {"percent": 100}},
    {"pause": {"duration": "1m"}},
    {"headerRoute": {"match": [X_CANARY]}},
    {"pause": {"duration": "1m"}},
    {"setWeight": 20},
    {"pause": {"duration": "1m"}},
    {"headerRoute": {"match": []}},
    {"pause": {"duration": "1m"}},
]
MIRRORED = RouteState(0, mirror=100)
BOTH = RouteState(0, mirror=100, header_route=(X_CANARY_HEADER,))
WEIGHTED = RouteState(20, header_route=(X_CANARY_HEADER,))


def canary_spec(version: str = "2.0.0", steps: list[dict[str, Any]] = STEPS) -> Any:
    return spec(version, strategy={"canary": {"steps": steps}})


def rolling(version: str = "2.0.0") -> World:
    world = healthy_world(strategy={"canary": {"steps": STEPS}})
    world.spec = canary_spec(version)
    world.tick()
    world.tick()  # pods ready: the mirror step is taken
    return world


def passing(world: World, seconds: int = 61) -> None:
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=seconds))


def at_step(world: World, index: int) -> None:
    for _ in range(20):
        if world.status.current_step == index:
            return
        passing(world)
    raise AssertionError(f"never reached step {index}: {world.status.message}")


def test_a_mirror_step_copies_traffic_while_users_get_stable_only() -> None:
    world = rolling()
    assert world.route == MIRRORED
    canary = world.status.canary
    assert canary is not None
    assert (canary.weight, canary.mirror) == (0, 100)
    assert world.weights_seen[-1] == 0, "no user is answered by the canary"
    assert "100% of live requests mirrored" in world.status.message
    # Sized for the copies it gets: 100% of the traffic needs all four pods.
    assert world.replicas[canary.revision] == 4


def test_a_mirrored_canary_is_judged_and_the_step_needs_a_pass() -> None:
    world = rolling()
    assert world.status.weight_set_at == world.now  # the first window starts here
    assert analysis_due(world.spec, world.status, world.now + timedelta(seconds=30))
    world.tick(advance=timedelta(seconds=61))
    assert world.status.current_step == 1, "a pause after a mirror waits for a pass"
    assert "waiting for a successful measurement" in world.status.message
    passing(world, 1)
    assert world.status.current_step == 2


def test_routes_through_every_step_to_promotion() -> None:
    world = rolling()
    at_step(world, 3)
    assert world.route == BOTH
    at_step(world, 5)
    assert world.route == WEIGHTED, "a weight above 0 ends the mirror"
    at_step(world, 7)
    assert world.route == RouteState(20), "an empty headerRoute ends it"
    for _ in range(10):
        passing(world)
    assert world.status.phase == Phase.HEALTHY
    assert world.routes_seen == [
        RouteState(0),
        MIRRORED,
        BOTH,
        WEIGHTED,
        RouteState(20),
        RouteState(100),
        RouteState(0),
    ]


def test_a_failure_during_the_mirror_rolls_back_with_no_user_weight_ever() -> None:
    world = rolling()
    for _ in range(2):  # failureLimit 1: the second failure rolls back
        world.tick(
            measurements=(measurement(FAILED, world.now, 0.5),), advance=timedelta(seconds=31)
        )
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.route == RouteState(0)
    assert all(state.canary_weight == 0 for state in world.routes_seen)


def ended_by_abort(world: World) -> None:
    world.tick(request=Request("abort", "a1"))


def ended_by_full_promotion(world: World) -> None:
    world.tick(request=Request("promote-full", "p1"))
    for _ in range(6):
        world.tick()


def ended_by_a_newer_version(world: World) -> None:
    world.spec = canary_spec("3.0.0")
    world.tick()


@pytest.mark.parametrize(
    ("end", "phase", "last_routes"),
    [
        (ended_by_abort, Phase.ROLLED_BACK, [RouteState(0)]),
        (ended_by_full_promotion, Phase.HEALTHY, [RouteState(100), RouteState(0)]),
        # the newer version starts its own mirror at once, from a clean route
        (ended_by_a_newer_version, Phase.PROGRESSING, [RouteState(0)]),
    ],
)
def test_mirror_and_header_route_end_with_the_rollout(
    end: Callable[[World], None], phase: Phase, last_routes: list[RouteState]
) -> None:
    world = rolling()
    at_step(world, 3)
    assert world.route == BOTH
    seen = len(world.routes_seen)
    end(world)
    assert world.status.phase == phase
    assert world.routes_seen[seen : seen + len(last_routes)] == last_routes


def test_a_promotion_request_ends_them_before_any_traffic_moves() -> None:
    world = rolling()
    at_step(world, 3)
    world.tick(request=Request("promote-full", "p1"))
    assert world.status.promotion_stage is not None
    assert world.route is not None
    assert (world.route.mirror, world.route.header_route) == (0, ()), "promotion: weights only"


def test_a_restarted_operator_carries_on_from_the_status_alone() -> None:
    world = rolling()
    at_step(world, 3)
    # A new process: only the status as written, read back from JSON.
    written = world.status.model_dump_json(by_alias=True)
    world.status = ModelDeploymentStatus.model_validate_json(written)
    world.route = None
    world.tick()
    assert world.route == BOTH
    assert world.status.current_step == 3


def test_a_mirror_of_zero_ends_the_mirror() -> None:
    steps = [{"mirror": {"percent": 50}}, {"pause": {"duration": "1m"}}, {"mirror": {"percent": 0}}]
    world = healthy_world(strategy={"canary": {"steps": steps}})
    world.spec = canary_spec(steps=steps)
    world.tick()
    world.tick()
    assert world.route == RouteState(0, mirror=50)
    assert world.replicas[world.status.canary.revision] == 2  # type: ignore[union-attr]
    at_step(world, 3)
    assert world.route == RouteState(0)
    assert "mirror ended" in world.status.message


def test_a_cookie_is_a_regular_expression_on_the_cookie_header() -> None:
    steps = [{"headerRoute": {"match": [{"cookie": {"name": "arm", "value": "b"}}]}}]
    world = healthy_world(strategy={"canary": {"steps": [*steps, {"pause": {}}]}})
    world.spec = canary_spec(steps=[*steps, {"pause": {}}])
    world.tick()
    world.tick()
    assert world.route is not None
    (header,) = world.route.header_route
    assert (header.name, header.type) == ("Cookie", "RegularExpression")
    assert "requests with Cookie~^(.*;" in world.status.message


# -- blue/green ---------------------------------------------------------------------------


def bg(**preview: Any) -> dict[str, Any]:
    return {"blueGreen": {"previewTraffic": preview, "autoPromotionAfter": "1m"}}


def test_a_ready_preview_gets_mirrored_and_header_matched_traffic() -> None:
    strategy = bg(mirror={"percent": 100}, headerRoute={"match": [X_CANARY]})
    world = healthy_world(strategy=strategy)
    world.spec = spec("2.0.0", strategy=strategy)
    world.tick()
    assert world.route == RouteState(0), "nothing reaches the preview before it is ready"
    world.tick()
    assert world.route == BOTH
    ready = [e.message for e in world.events if e.reason == Reason.PREVIEW_READY]
    assert ready == [
        "preview of version 2.0.0 is ready and gets 100% of live requests mirrored "
        "and header-matched requests"
    ]
    for _ in range(6):
        passing(world)
    assert world.status.phase == Phase.HEALTHY
    assert world.routes_seen[-2:] == [RouteState(100), RouteState(0)]


def test_a_bad_preview_is_rolled_back_before_the_switch() -> None:
    strategy = bg(mirror={"percent": 100})
    world = healthy_world(strategy=strategy)
    stable = world.spec.revision()
    world.spec = spec("2.0.0", strategy=strategy)
    world.tick()
    world.tick()
    for _ in range(2):
        world.tick(
            measurements=(measurement(FAILED, world.now, 0.5),), advance=timedelta(seconds=31)
        )
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.status.stable is not None
    assert world.status.stable.revision == stable
    assert world.route == RouteState(0)
    assert all(state.canary_weight == 0 for state in world.routes_seen)
    assert Reason.ANALYSIS_FAILED in world.reasons()


# -- what each spec needs from its router -----------------------------------------------


@pytest.mark.parametrize(
    ("spec_of", "needs"),
    [
        (
            lambda: canary_spec(),
            {
                "weights": "a canary",
                "mirror": "step 1 (mirror)",
                "headerRoute": "step 3 (headerRoute)",
            },
        ),
        (lambda: spec("1", strategy={"blueGreen": {}}), {}),
        (
            lambda: spec("1", strategy=bg(mirror={"percent": 5})),
            {
                "mirror": "blueGreen.previewTraffic.mirror",
            },
        ),
        (
            lambda: spec("1", strategy=bg(headerRoute={"match": [X_CANARY]})),
            {
                "headerRoute": "blueGreen.previewTraffic.headerRoute",
            },
        ),
    ],
)
def test_route_features_name_what_asks_for_them(
    spec_of: Callable[[], ModelDeploymentSpec], needs: dict[str, str]
) -> None:
    assert route_features(spec_of()) == needs


def test_the_canary_keeps_its_loaded_pods_when_the_mirror_gives_way_to_a_lower_weight() -> None:
    world = rolling()
    canary = world.status.canary
    assert canary is not None
    assert world.replicas[canary.revision] == 4, "sized for 100% mirrored"
    at_step(world, 6)
    assert world.route == WEIGHTED
    assert world.replicas[canary.revision] == 4, "not scaled down to 20%'s one pod"
    # Fewer pods in the spec caps it.
    world.spec = world.spec.model_copy(update={"replicas": 2})
    world.tick()
    assert world.replicas[canary.revision] == 2
