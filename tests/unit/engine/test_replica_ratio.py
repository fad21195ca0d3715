"""traffic.replicaRatio: the pods are the split. Weights round to whole pods, the
canary has pods only once it is to have traffic, stable shrinks as the canary grows
within the surge, and no revision keeps a pod it has no weight for (it would take a
share of the traffic)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sim import World, healthy_world, spec

from modelrollout.api.vocabulary import Phase
from modelrollout.engine.capacity import Budget, carried, left_for, pods_for, ratio_weight
from modelrollout.engine.model import Request

RATIO = {"replicaRatio": {}}
STEPS = [
    {"setWeight": 5},
    {"pause": {"duration": "1m"}},
    {"setWeight": 50},
    {"pause": {"duration": "1m"}},
]


def ratio(replicas: int, surge: int | None, steps: list[dict[str, Any]] | None = None) -> World:
    canary: dict[str, Any] = {"steps": steps or STEPS}
    if surge is not None:
        canary["capacity"] = {"maxSurge": surge}
    given = {"replicas": replicas, "strategy": {"canary": canary}, "analysis": None}
    world = healthy_world(**given, traffic=RATIO)
    world.spec = spec("2.0.0", **given, traffic=RATIO)
    return world


@pytest.mark.parametrize(
    ("total", "weight", "expressed"),
    [
        (4, 5, 25),  # one pod of four: the example
        (4, 1, 25),
        (4, 25, 25),
        (4, 37, 25),
        (4, 38, 50),  # 1.52 pods: rounded half up
        (4, 99, 75),  # never all of them before promotion
        (5, 50, 60),  # 2.5 pods: half up
        (3, 50, 66),
        (2, 10, 50),
        (10, 5, 10),  # half a pod rounds up to one
        (20, 5, 5),
        (100, 7, 7),
        (4, 0, 0),
        (4, 100, 100),
    ],
)
def test_a_weight_rounds_to_whole_pods(total: int, weight: int, expressed: int) -> None:
    assert ratio_weight(total, weight) == expressed


@pytest.mark.parametrize("total", range(2, 41))
def test_an_expressed_weight_is_exactly_its_pods_for_the_moves(total: int) -> None:
    """The sizing (pods_for, left_for) lands on exactly the pods the weight names, so a
    settled canary's weight is its share of the pods."""
    for weight in range(1, 100):
        expressed = ratio_weight(total, weight)
        pods = pods_for(total, expressed)
        assert 0 < expressed < 100
        assert 1 <= pods <= total - 1
        assert carried(total, pods) == expressed
        assert left_for(total, expressed) == total - pods


def ready(world: World, revision: str | None) -> int:
    seen = world.observations()
    return seen[revision].ready_replicas if revision in seen else 0


def check(world: World, budget: Budget) -> None:
    """One tick, and what must hold at every moment with replica ratio."""
    world.tick(advance=timedelta(seconds=20))
    status = world.status
    assert world.peak_pods <= budget.limit, f"{world.peak_pods} pods > {budget.limit}"
    revisions = [r for r in (status.stable, status.canary, status.returning) if r is not None]
    serving = sum(world.replicas.values())
    on_the_side = {r for r in world.replicas if r not in {x.revision for x in revisions}}
    assert all(world.replicas[r] == 0 for r in on_the_side), "a pod with no weight"
    readies = {r.revision: ready(world, r.revision) for r in revisions}
    assert sum(readies.values()) >= budget.total - budget.spare, "too few pods serve"
    assert serving <= budget.limit
    canary = status.canary
    if canary is not None:
        share = 100 * readies[canary.revision] / max(1, sum(readies.values()))
        # The weight is what the growing side's ready pods carry; the other side lets
        # its pods go in the next decision: as many pods apart as a tick adds.
        apart = 100 * max(1, budget.surge) / budget.total
        assert abs(share - canary.weight) <= apart, (share, canary.weight)


def run(world: World, budget: Budget, until: Any, limit: int = 200) -> None:
    for _ in range(limit):
        check(world, budget)
        if until(world):
            return
    raise AssertionError(f"not done after {limit} ticks: {world.status.message}")


def test_the_canary_grows_as_stable_shrinks_a_pod_at_a_time() -> None:
    """(canary pods, stable pods, canary weight) after each tick that changed them:
    4 replicas, a surge of 1, steps of 5% (one pod: 25%) and 50%, then promotion."""
    world, budget = ratio(4, 1), Budget(4, 1, pods_are_traffic=True)
    seen: list[tuple[int, int, int]] = []
    while world.status.canary is not None or not seen:
        check(world, budget)
        status = world.status
        if status.canary is None:
            break
        assert status.stable is not None
        now = (status.canary.replicas, status.stable.replicas, status.canary.weight)
        if not seen or seen[-1] != now:
            seen.append(now)
    assert seen == [
        (1, 4, 0),  # the canary's first pod, in the surge
        (1, 4, 25),  # step 1: setWeight 5 is one pod of four
        (1, 3, 25),  # stable lets a pod go once the weight is the canary's
        (2, 3, 25),
        (2, 3, 50),  # step 3
        (2, 2, 50),
        (3, 2, 50),  # promotion, a pod at a time
        (3, 2, 75),
        (3, 1, 75),
        (4, 1, 75),
        (4, 1, 100),
        (4, 0, 100),
    ]
    messages = [e.message for e in world.events]
    assert "step 1/4: canary weight 25% (setWeight 5 in whole pods of 4)" in messages
    assert any("promoted; 1.0.0 scales down now" in m for m in messages)


@pytest.mark.parametrize("replicas", [2, 3, 4, 5, 10])
@pytest.mark.parametrize("surge", [None, 0, 1, 2])
def test_a_ratio_canary_stays_within_its_surge_and_is_promoted(
    replicas: int, surge: int | None
) -> None:
    world = ratio(replicas, surge)
    budget = Budget(replicas, 1 if surge is None else surge, pods_are_traffic=True)
    old = world.status.stable
    assert old is not None
    world.peak_pods = 0
    run(world, budget, lambda w: w.status.phase == Phase.HEALTHY and w.status.canary is None)
    stable = world.status.stable
    assert stable is not None
    assert stable.version == "2.0.0"
    assert world.replicas[stable.revision] == replicas
    assert world.replicas[old.revision] == 0, "the old version left with its last weight"
    # A surge is used (pods over the total while new ones get ready), none otherwise.
    assert (world.peak_pods > replicas) == (budget.surge > 0)
    spread = {carried(replicas - budget.spare, pods) for pods in range(replicas)}
    expressible = {ratio_weight(replicas, w) for w in range(101)} | spread
    assert set(world.weights_seen) <= expressible, "whole pods (of one fewer, with no surge)"


@pytest.mark.parametrize("surge", [0, 1])
def test_a_rollback_hands_traffic_back_pod_by_pod_and_leaves_no_canary_pod(surge: int) -> None:
    world, budget = ratio(4, surge, [{"setWeight": 50}, {"pause": {}}]), Budget(4, surge, True)
    run(world, budget, lambda w: w.status.phase == Phase.PAUSED)
    canary = world.status.canary
    assert canary is not None
    assert canary.weight == 50
    assert world.replicas[canary.revision] == 2
    world.tick(request=Request("abort", "a1"))
    assert world.status.phase == Phase.ROLLED_BACK
    weights = []
    while world.status.returning is not None:
        weights.append(world.status.returning.weight)
        check(world, budget)
    assert weights == sorted(weights, reverse=True)
    assert weights[0] == 50
    stable = world.status.stable
    assert stable is not None
    assert world.replicas[stable.revision] == 4
    world.tick()  # no abortScaleDownDelay: a pod left would take traffic
    assert world.replicas.get(canary.revision, 0) == 0


def test_a_canary_has_no_pod_before_its_first_weight() -> None:
    steps = [{"pause": {"duration": "1m"}}, {"setWeight": 25}, {"pause": {}}]
    world, budget = ratio(4, 1, steps), Budget(4, 1, True)
    check(world, budget)
    canary = world.status.canary
    assert canary is not None
    assert (canary.replicas, canary.weight) == (0, 0)
    run(world, budget, lambda w: w.status.phase == Phase.PAUSED)
    canary = world.status.canary
    assert canary is not None
    assert (canary.replicas, canary.weight) == (1, 25)


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"replicas": 1}, "at least 2 replicas"),
        ({"strategy": {"blueGreen": {}}}, "it needs a canary"),
        ({"traffic": {"replicaRatio": {}, "istio": {"virtualService": "v"}}}, "exactly one"),
    ],
)
def test_a_ratio_spec_that_cannot_split_by_pods_is_refused(
    overrides: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        spec(**{"traffic": RATIO, **overrides})
