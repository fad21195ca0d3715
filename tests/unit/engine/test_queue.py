"""Rollout slots: the order of the line (first come, first served, fair across
namespaces), the limits, and a queued rollout in the engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sim import T0, World, healthy_world, spec

from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.model import Request, Slot
from modelrollout.engine.queue import Contender, Limits, admit, line


def waiting(namespace: str, name: str, minute: int, **labels: str) -> Contender:
    return Contender((namespace, name), labels, since=T0 + timedelta(minutes=minute))


def holding(namespace: str, name: str, **labels: str) -> Contender:
    return Contender((namespace, name), labels, holding=True)


def test_the_line_is_first_come_first_served_within_a_namespace() -> None:
    got = line([waiting("a", "x", 3), waiting("a", "y", 1), waiting("a", "z", 2)])
    assert [c.key[1] for c in got] == ["y", "z", "x"]


def test_the_line_is_fair_across_namespaces() -> None:
    """Ten from one team first, then one from another: the other's goes second."""
    busy = [waiting("busy", f"m{i}", i) for i in range(10)]
    got = line([*busy, waiting("quiet", "q", 20)])
    assert [c.key for c in got][:3] == [("busy", "m0"), ("quiet", "q"), ("busy", "m1")]


def test_same_time_orders_by_name() -> None:
    assert [c.key[1] for c in line([waiting("a", "b", 0), waiting("a", "a", 0)])] == ["a", "b"]


LIMITS = [
    ("overall", Limits(overall=2), [holding("a", "h1"), holding("b", "h2")], False),
    ("overall, a slot free", Limits(overall=2), [holding("a", "h1")], True),
    ("per namespace, full", Limits(per_namespace=1), [holding("ns", "h")], False),
    ("per namespace, another's full", Limits(per_namespace=1), [holding("other", "h")], True),
    ("pool full", Limits(per_label={"pool": 1}), [holding("x", "h", pool="a100")], False),
    ("another pool full", Limits(per_label={"pool": 1}), [holding("x", "h", pool="t4")], True),
    ("no limit", Limits(), [holding("ns", "h")], True),
]


@pytest.mark.parametrize(("why", "limits", "fleet", "granted"), LIMITS, ids=[c[0] for c in LIMITS])
def test_a_rollout_starts_only_within_every_limit(
    why: str, limits: Limits, fleet: list[Contender], granted: bool
) -> None:
    me = waiting("ns", "me", 5, pool="a100")
    assert admit(fleet, limits, me).granted is granted, why


def test_one_ahead_in_line_goes_first() -> None:
    limits = Limits(overall=2)
    fleet = [holding("a", "h"), waiting("a", "early", 0)]
    slot = admit(fleet, limits, waiting("a", "late", 1))
    assert slot == Slot(False, position=2, limit="2 at once in all rollouts", held_by=("a/h",))
    assert admit(fleet, limits, waiting("a", "early", 0)).granted


def test_a_full_pool_does_not_hold_up_another_pool() -> None:
    limits = Limits(per_label={"pool": 1})
    fleet = [holding("a", "h", pool="a100"), waiting("a", "first", 0, pool="a100")]
    assert admit(fleet, limits, waiting("a", "second", 1, pool="t4")).granted
    blocked = admit(fleet, limits, waiting("a", "third", 2, pool="a100"))
    assert blocked.position == 2, "behind the first"
    assert blocked.limit == "1 at once in pool=a100"
    assert blocked.held_by == ("a/h",)


def test_those_holding_are_named_at_most_eight() -> None:
    fleet = [holding("a", f"h{i}") for i in range(12)]
    slot = admit(fleet, Limits(overall=12), waiting("a", "me", 0))
    assert len(slot.held_by) == 8


# -- a queued rollout in the engine -------------------------------------------------------

QUEUED = Slot(False, position=2, limit="2 at once in all rollouts", held_by=("a/x", "a/y"))


def queued_world() -> World:
    world = healthy_world()
    world.spec = spec("2.0.0")
    world.slot = QUEUED
    world.tick()
    return world


def test_a_rollout_without_a_slot_waits_pending_and_stable_serves() -> None:
    world = queued_world()
    status = world.status
    assert status.phase == Phase.PENDING
    assert status.canary is None
    assert status.queue is not None
    assert (status.queue.position, status.queue.held_by) == (2, ["a/x", "a/y"])
    assert "#2 in line" in status.message
    assert "held by a/x, a/y" in status.message
    assert world.reasons().count(Reason.QUEUED) == 1
    assert world.weight == 0
    world.tick()
    assert world.reasons().count(Reason.QUEUED) == 1, "said once"


def test_a_newer_version_keeps_the_place_in_line() -> None:
    world = queued_world()
    assert world.status.queue is not None
    since = world.status.queue.since
    world.spec = spec("3.0.0")
    world.tick(advance=timedelta(minutes=5))
    assert world.status.queue is not None
    assert world.status.queue.since == since


def test_a_slot_starts_the_rollout_and_the_line_is_left() -> None:
    world = queued_world()
    world.slot = Slot(True)
    world.tick()
    assert world.status.queue is None
    assert world.status.canary is not None
    assert world.status.phase == Phase.PROGRESSING


def test_back_to_the_stable_version_leaves_the_line() -> None:
    world = queued_world()
    world.spec = spec("1.0.0")
    world.tick()
    assert world.status.queue is None
    assert world.status.phase == Phase.HEALTHY


def test_an_abort_never_waits_for_a_slot() -> None:
    world = healthy_world()
    world.spec = spec("2.0.0")
    world.tick()
    world.tick()
    assert world.status.canary is not None
    world.slot = QUEUED  # the line is long: not this rollout's concern
    world.tick(request=Request("abort", "a1"))
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.weight == 0
