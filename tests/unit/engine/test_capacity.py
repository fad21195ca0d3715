"""A capacity budget: never more than replicas + maxSurge pods; stable gives way only
after traffic has left it; a rollback hands traffic back as stable's pods return; an
autoscaler's total resizes both revisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sim import World, healthy_world, spec

from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.capacity import (
    Budget,
    Move,
    Side,
    carried,
    move,
    pods_for,
    target_pods,
)
from modelrollout.engine.model import Request

# -- the pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "percent", "pods"),
    [(4, 0, 0), (4, 10, 1), (4, 50, 2), (10, 25, 3), (4, 100, 4), (3, 34, 2), (0, 50, 0)],
)
def test_pods_for_a_share_round_up(total: int, percent: int, pods: int) -> None:
    assert pods_for(total, percent) == pods


@pytest.mark.parametrize(
    ("total", "ready", "percent"), [(4, 0, 0), (4, 1, 25), (3, 1, 33), (4, 5, 100), (0, 0, 100)]
)
def test_ready_pods_carry_their_share_at_the_totals_load(
    total: int, ready: int, percent: int
) -> None:
    assert carried(total, ready) == percent


@pytest.mark.parametrize(
    ("total", "surge", "share", "goal", "pods", "why"),
    [
        (4, 0, 10, 10, 1, "at least one pod"),
        (4, 0, 50, 50, 2, "its share"),
        (4, 0, 100, 100, 4, "all of them at 100%"),
        (4, 0, 50, 0, 1, "a mirror: stable keeps all but the spare pod"),
        (4, 1, 50, 0, 1, "a mirror: only the surge"),
        (4, 4, 50, 0, 2, "a mirror within a generous budget: its share"),
        (4, 0, 90, 90, 3, "stable keeps a pod for its 10%"),
        (10, 2, 25, 25, 3, "proportional"),
    ],
)
def test_the_canary_is_sized_for_its_share_within_the_budget(
    total: int, surge: int, share: int, goal: int, pods: int, why: str
) -> None:
    assert target_pods(Budget(total, surge), share, goal) == pods, why


@dataclass(frozen=True)
class Case:
    why: str
    budget: Budget
    growing: Side
    giving_way: Side
    target: int
    goal: int
    weight: int
    expected: Move
    others: int = 0


MOVES = [
    Case(
        "no room: stable keeps its pods",
        Budget(4, 1),
        Side(1, 1, 0),
        Side(4, 4, 4),
        2,
        50,
        10,
        Move(1, 4, 10),
    ),
    Case(
        "a ready canary pod carries its share",
        Budget(4, 1),
        Side(1, 1, 1),
        Side(4, 4, 4),
        2,
        50,
        10,
        Move(1, 4, 25),
    ),
    Case(
        "traffic left: stable gives a pod",
        Budget(4, 1),
        Side(1, 1, 1),
        Side(4, 4, 4),
        2,
        50,
        25,
        Move(1, 3, 25),
    ),
    Case(
        "a terminating pod holds its GPU",
        Budget(4, 1),
        Side(1, 1, 1),
        Side(3, 4, 3),
        2,
        50,
        25,
        Move(1, 3, 25),
    ),
    Case(
        "once gone, the canary grows",
        Budget(4, 1),
        Side(1, 1, 1),
        Side(3, 3, 3),
        2,
        50,
        25,
        Move(2, 3, 25),
    ),
    Case(
        "all its pods ready: the goal",
        Budget(4, 1),
        Side(2, 2, 2),
        Side(3, 3, 3),
        2,
        50,
        25,
        Move(2, 3, 50),
    ),
    Case(
        "stable keeps what the budget leaves",
        Budget(4, 1),
        Side(2, 2, 2),
        Side(3, 3, 3),
        2,
        50,
        50,
        Move(2, 3, 50),
    ),
    Case(
        "maxSurge 0: stable one short to start",
        Budget(4, 0),
        Side(0, 0, 0),
        Side(4, 4, 4),
        1,
        10,
        0,
        Move(0, 3, 0),
    ),
    Case(
        "maxSurge 0: no move, traffic spreads over N-1",
        Budget(4, 0),
        Side(1, 1, 1),
        Side(3, 3, 3),
        2,
        50,
        10,
        Move(1, 3, 33),
    ),
    Case(
        "maxSurge 0: the last stable pod after its traffic",
        Budget(4, 0),
        Side(3, 3, 3),
        Side(1, 1, 1),
        4,
        100,
        75,
        Move(3, 1, 100),
    ),
    Case(
        "a pod with weight stays",
        Budget(4, 0),
        Side(3, 3, 3),
        Side(1, 1, 1),
        4,
        100,
        99,
        Move(3, 1, 100),
    ),
    Case(
        "other revisions' pods count",
        Budget(4, 1),
        Side(0, 0, 0),
        Side(4, 4, 4),
        1,
        10,
        0,
        Move(0, 4, 0),
        others=1,
    ),
    Case(
        "an autoscaler's smaller total: stable gives way",
        Budget(2, 1),
        Side(1, 1, 1),
        Side(4, 4, 4),
        1,
        10,
        10,
        Move(1, 2, 10),
    ),
    Case(
        "weight never goes back",
        Budget(4, 1),
        Side(2, 2, 1),
        Side(3, 3, 3),
        2,
        50,
        50,
        Move(2, 3, 50),
    ),
]


@pytest.mark.parametrize("case", MOVES, ids=[c.why for c in MOVES])
def test_a_move_takes_a_pod_at_a_time(case: Case) -> None:
    got = move(
        case.budget,
        case.growing,
        case.giving_way,
        case.others,
        case.target,
        case.goal,
        case.weight,
    )
    assert got == case.expected


# -- rollouts in the engine's small world ----------------------------------------------------

STEPS = [{"setWeight": 10}, {"setWeight": 50}, {"setWeight": 100}]


def budgeted(replicas: int, surge: int | None, steps: list[dict[str, Any]] | None = None) -> World:
    canary: dict[str, Any] = {"steps": steps or STEPS}
    if surge is not None:
        canary["capacity"] = {"maxSurge": surge}
    world = healthy_world(replicas=replicas, strategy={"canary": canary}, analysis=None)
    world.spec = spec("2.0.0", replicas=replicas, strategy={"canary": canary}, analysis=None)
    return world


def ready_by_service(world: World) -> dict[str, int]:
    seen = world.observations()
    stable, canary = world.services or ("", "")
    return {
        "stable": seen[stable].ready_replicas if stable in seen else 0,
        "canary": seen[canary].ready_replicas if canary in seen else 0,
    }


def step_checked(world: World, budget: Budget) -> None:
    """One tick, then what must hold at every moment."""
    world.tick()
    assert world.peak_pods <= budget.limit, f"{world.peak_pods} pods > {budget.limit}"
    ready = ready_by_service(world)
    weight = world.weight or 0
    assert weight == 0 or ready["canary"] > 0, "weight on a canary with no ready pod"
    assert weight == 100 or ready["stable"] > 0, "weight on a stable with no ready pod"
    assert sum(ready.values()) >= budget.total - budget.spare, f"too few ready: {ready}"


def run(world: World, budget: Budget, until: Any, limit: int = 200) -> None:
    for _ in range(limit):
        step_checked(world, budget)
        if until(world):
            return
    raise AssertionError(f"not done after {limit} ticks: {world.status.message}")


def promoted(world: World) -> bool:
    return world.status.phase == Phase.HEALTHY and world.status.canary is None


@pytest.mark.parametrize("replicas", [2, 3, 4, 5, 10])
@pytest.mark.parametrize("surge", [0, 1, 2])
def test_a_budgeted_canary_never_exceeds_its_budget_and_is_promoted(
    replicas: int, surge: int
) -> None:
    world, budget = budgeted(replicas, surge), Budget(replicas, surge)
    world.peak_pods = 0
    run(world, budget, promoted)
    assert world.peak_pods == budget.limit, "the budget is used, not wasted"
    assert world.weights_seen[-1] == 0
    assert max(world.weights_seen) == 100
    assert sorted(world.weights_seen[:-1]) == world.weights_seen[:-1], "traffic only moves on"
    stable = world.status.stable
    assert stable is not None
    assert stable.version == "2.0.0"
    assert world.replicas[stable.revision] == replicas


def test_with_maxsurge_0_a_canary_moves_a_pod_at_a_time() -> None:
    """The table of a budgeted canary: (canary pods, stable pods, canary weight) after
    each tick that changed them, 4 replicas and no surge."""
    world, budget = budgeted(4, 0), Budget(4, 0)
    seen: list[tuple[int, int, int]] = []
    for _ in range(60):
        step_checked(world, budget)
        status = world.status
        if status.canary is None:
            break
        now = (
            status.canary.replicas,
            status.stable.replicas if status.stable else 0,
            status.canary.weight,
        )
        if not seen or seen[-1] != now:
            seen.append(now)
    assert seen == [
        (0, 3, 0),  # stable one short first: no room for the canary otherwise
        (1, 3, 0),  # the canary's first pod
        (1, 3, 10),  # step 1
        (1, 3, 33),  # step 2: no room for a second pod, traffic spreads over 3
        (1, 2, 33),  # then stable lets a pod go
        (2, 2, 33),
        (2, 2, 50),  # step 2 done
        (2, 1, 50),  # step 3: one short again
        (2, 1, 66),
        (3, 1, 66),
        (3, 1, 100),  # stable's last pod keeps serving until its traffic has left
        (3, 0, 100),
        (4, 0, 100),  # then promotion
    ]
    assert Reason.WEIGHT_MOVED in world.reasons()


@pytest.mark.parametrize("surge", [0, 1])
def test_a_rollback_under_a_budget_hands_traffic_back_as_stable_returns(surge: int) -> None:
    world, budget = budgeted(4, surge, [{"setWeight": 100}, {"pause": {}}]), Budget(4, surge)
    run(world, budget, lambda w: w.status.phase == Phase.PAUSED)
    assert world.weight == 100
    canary = world.status.canary
    assert canary is not None
    world.tick(request=Request("abort", "a1"))
    assert world.status.phase == Phase.ROLLED_BACK
    returning = world.status.returning
    assert returning is not None
    assert returning.revision == canary.revision
    assert world.status.stable is not None
    assert returning.weight > 0
    weights = [returning.weight]
    while world.status.returning is not None:
        step_checked(world, budget)
        if world.status.returning is not None:
            weights.append(world.status.returning.weight)
    assert weights == sorted(weights, reverse=True)
    assert weights[-1] == 0
    assert world.weight == 0
    assert world.replicas[world.status.stable.revision] == 4
    assert world.replicas[canary.revision] <= surge, "the canary keeps only the surge"
    assert Reason.TRAFFIC_HANDED_BACK in world.reasons()
    world.tick(advance=timedelta(seconds=31))  # abortScaleDownDelay
    assert world.replicas.get(canary.revision, 0) == 0


def test_a_rollback_without_a_budget_takes_all_traffic_at_once() -> None:
    world = budgeted(4, None, [{"setWeight": 100}, {"pause": {}}])
    for _ in range(10):
        world.tick()
    assert world.weight == 100
    assert world.replicas[world.status.stable.revision] == 4
    world.tick(request=Request("abort", "a1"))
    assert world.status.returning is None
    assert world.status.canary is None
    assert world.weight == 0


def test_a_new_version_waits_until_the_traffic_is_handed_back() -> None:
    world, budget = budgeted(4, 0, [{"setWeight": 100}, {"pause": {}}]), Budget(4, 0)
    run(world, budget, lambda w: w.status.phase == Phase.PAUSED)
    world.spec = spec("3.0.0", replicas=4, strategy=world.spec.strategy.wire(), analysis=None)
    step_checked(world, budget)
    assert world.status.returning is not None, "superseded at 100%: handed back first"
    assert world.status.canary is None
    assert "handing traffic back" in world.status.message
    run(world, budget, lambda w: w.status.canary is not None)
    assert world.status.returning is None
    assert world.status.canary is not None
    assert world.status.canary.version == "3.0.0"


@pytest.mark.parametrize("surge", [None, 1])
def test_an_autoscaler_resizes_both_revisions_mid_rollout(surge: int | None) -> None:
    """The total doubles at 50%: the canary is sized for half of the new total, stable
    for the rest (all of it, without a budget), and the budget grows with the total."""
    steps = [{"setWeight": 50}, {"pause": {}}]
    world = budgeted(4, surge, steps)
    run(world, Budget(4, surge or 100), lambda w: w.status.phase == Phase.PAUSED)
    assert world.weight == 50
    canary, stable = world.status.canary, world.status.stable
    assert canary is not None
    assert stable is not None
    strategy = world.spec.strategy.wire()
    world.spec = spec("2.0.0", replicas=8, strategy=strategy, analysis=None)
    for _ in range(20):
        step_checked(world, Budget(8, surge or 100))
    assert world.replicas[canary.revision] == 4
    assert world.replicas[stable.revision] == (8 if surge is None else 5)
    assert world.weight == 50, "resizing moves no traffic"
    world.spec = spec("2.0.0", replicas=2, strategy=strategy, analysis=None)
    for _ in range(5):
        world.tick()
    assert world.replicas[canary.revision] == 1
    assert world.replicas[stable.revision] == 2


def test_a_mirror_under_a_budget_gets_what_the_budget_leaves() -> None:
    steps = [{"mirror": {"percent": 100}}, {"pause": {}}]
    world, budget = budgeted(4, 1, steps), Budget(4, 1)
    run(world, budget, lambda w: w.status.phase == Phase.PAUSED)
    canary = world.status.canary
    assert canary is not None
    assert canary.mirror == 100
    assert canary.weight == 0
    assert world.replicas[canary.revision] == 1
    assert world.status.stable is not None
    assert world.replicas[world.status.stable.revision] == 4, "stable carries every user"
