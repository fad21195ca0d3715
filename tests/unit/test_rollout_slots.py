"""The operator's rollout slots: a slot given is counted until the watch shows it, so
two loops deciding at once never take the last one twice; a freed slot wakes the line;
the limits come from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelrollout.api.status import ModelDeploymentStatus, QueueStatus, RevisionStatus
from modelrollout.engine.model import Decision, Slot
from modelrollout.engine.queue import Contender, Limits
from modelrollout.handlers.rollout_slots import (
    GIVEN_SECONDS,
    RolloutSlots,
    contender,
    parse_limits,
)
from modelrollout.reconcile.ports import NO_LIMITS

STARTED = ModelDeploymentStatus(canary=RevisionStatus(version="2", revision="b"))


def starts(slot: Slot | None) -> Decision:
    """A decision that starts its rollout when given a slot, else waits in line there."""
    if slot is not None and slot.granted:
        return Decision(STARTED, ())
    assert slot is not None
    waiting = QueueStatus(since=datetime.now(UTC), position=slot.position)
    return Decision(ModelDeploymentStatus(queue=waiting), ())


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_limit_asks_nothing() -> None:
    assert RolloutSlots(Limits()).view([]) is NO_LIMITS


def test_a_slot_given_counts_until_the_watch_shows_it() -> None:
    clock = Clock()
    slots = RolloutSlots(Limits(overall=1), clock)
    first, second = Contender(("a", "first")), Contender(("a", "second"))
    assert slots.view([]).decide(first, starts).status.canary is not None
    # The second loop decides on the same (stale) fleet: the slot is gone.
    assert slots.view([]).decide(second, starts).status.canary is None
    # Its own next decision keeps it (the status write may not have landed yet).
    assert slots.view([]).decide(first, starts).status.canary is not None
    # Once the watch shows it holding, the fleet alone counts it.
    shown = [Contender(("a", "first"), holding=True)]
    assert slots.view(shown).decide(second, starts).status.canary is None
    assert slots.view([]).decide(second, starts).status.canary is not None, "dropped when shown"


def test_a_place_given_counts_until_the_watch_shows_it() -> None:
    slots = RolloutSlots(Limits(overall=1))
    holder = [Contender(("a", "holder"), holding=True)]
    first = slots.view(holder).decide(Contender(("a", "first")), starts).status.queue
    second = slots.view(holder).decide(Contender(("a", "second")), starts).status.queue
    assert first is not None
    assert second is not None
    assert (first.position, second.position) == (1, 2), "the first's place, not yet watched"


def test_a_slot_given_but_not_taken_is_let_go() -> None:
    clock = Clock()
    slots = RolloutSlots(Limits(overall=1), clock)
    me, other = Contender(("a", "me")), Contender(("a", "other"))
    slots.view([]).decide(me, starts)
    clock.now = GIVEN_SECONDS + 1  # its status write never came through
    assert slots.view([]).decide(other, starts).status.canary is not None


def test_a_decision_that_did_not_start_gives_the_slot_back() -> None:
    slots = RolloutSlots(Limits(overall=1))
    slots.view([]).decide(Contender(("a", "me")), lambda _: Decision(ModelDeploymentStatus(), ()))
    assert slots.view([]).decide(Contender(("a", "other")), starts).status.canary is not None


def body(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "a", "name": name, "labels": {"pool": "x"}}, "status": status}


def test_a_freed_slot_wakes_everyone_waiting() -> None:
    slots = RolloutSlots(Limits(overall=1))
    since = {"since": datetime(2026, 12, 5, tzinfo=UTC).isoformat(), "position": 1}
    assert slots.seen(contender(body("w", queue=since))) == []
    assert slots.seen(contender(body("h", canary={"version": "2", "revision": "b"}))) == []
    assert slots.seen(contender(body("other"))) == [], "nothing was freed"
    assert slots.seen(contender(body("h"))) == [("a", "w")]
    assert slots.seen(contender(body("w2", queue=since))) == []
    assert slots.seen(contender(body("w2"))) == [("a", "w")], "one left the line: it moved"
    assert slots.seen(contender(body("h2", returning={"version": "2", "revision": "c"}))) == []
    assert slots.forget(("a", "h2")) == [("a", "w")], "a deleted holder frees its slot"


def test_a_contender_is_read_from_the_object() -> None:
    c = contender(body("m", queue={"since": "2026-12-05T10:00:00Z", "position": 3}))
    assert c.key == ("a", "m")
    assert c.labels == {"pool": "x"}
    assert not c.holding
    assert c.since == datetime(2026, 12, 5, 10, tzinfo=UTC)


def test_a_rollout_that_cannot_start_holds_no_place() -> None:
    """Queued, then its spec went bad: the ones behind it must not wait for it."""
    queue = {"since": "2026-12-05T10:00:00Z", "position": 1}
    invalid = [{"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec"}]
    assert contender(body("m", queue=queue, conditions=invalid)).since is None
    valid = [{"type": "InvalidSpec", "status": "False", "reason": "SpecValid"}]
    assert contender(body("m", queue=queue, conditions=valid)).since is not None


def test_a_rollout_being_deleted_holds_no_slot_and_no_place() -> None:
    slots = RolloutSlots(Limits(overall=1))
    canary = {"version": "2", "revision": "b"}
    assert contender(body("h", canary=canary)).holding
    assert slots.seen(contender(body("h", canary=canary))) == []
    waiting = body("w", queue={"since": "2026-12-05T10:00:00Z", "position": 1})
    assert slots.seen(contender(waiting)) == []
    deleting = body("h", canary=canary)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-05T10:01:00Z"
    gone = contender(deleting)
    assert not gone.holding
    assert slots.seen(gone) == [("a", "w")], "its slot is free at once: the line moves"
    waiting["metadata"]["deletionTimestamp"] = "2026-12-05T10:01:00Z"
    assert contender(waiting).since is None


def test_limits_from_the_command_line() -> None:
    assert parse_limits(0, 0, []) == Limits()
    limits = parse_limits(5, 2, ["modelrollout.io/pool=1"])
    assert limits == Limits(5, 2, {"modelrollout.io/pool": 1})
    for bad in (["pool"], ["pool=0"], ["=2"], ["pool=x"]):
        with pytest.raises(ValueError, match="KEY=N"):
            parse_limits(0, 0, bad)
    with pytest.raises(ValueError, match="at least 0"):
        parse_limits(-1, 0, [])
