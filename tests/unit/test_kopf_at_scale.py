"""kopf at scale: a toggle set wakes its waiters only when its overall state changes,
and otherwise behaves as kopf's own; events reach kopf without managedFields."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kopf._cogs.aiokits.aiotoggles import ToggleSet
from kopf._core.reactor import processing

from modelrollout.handlers import kopf_at_scale


def test_waiters_wake_once_when_the_last_toggle_goes_not_at_every_change() -> None:
    kopf_at_scale.install()

    async def scenario() -> int:
        toggles = ToggleSet(all)
        wakes = 0
        notify_all = toggles._condition.notify_all

        def counted() -> None:
            nonlocal wakes
            wakes += 1
            notify_all()

        toggles._condition.notify_all = counted  # type: ignore[method-assign]
        mine = [await toggles.make_toggle(name=str(i)) for i in range(200)]
        waiting = asyncio.create_task(toggles.wait_for(True))
        for toggle in mine[:-1]:
            await toggles.drop_toggle(toggle)
            await toggles.drop_toggle(toggle)  # again: kopf drops per event
        await asyncio.sleep(0.01)
        assert not waiting.done(), "one object is not indexed yet"
        await toggles.drop_toggle(mine[-1])
        await asyncio.wait_for(waiting, timeout=5)
        assert toggles.is_on()
        # A new off toggle turns the set off again, and wakes whoever waits for that.
        off = asyncio.create_task(toggles.wait_for(False))
        await asyncio.sleep(0)
        await toggles.make_toggle(name="late")
        await asyncio.wait_for(off, timeout=5)
        return wakes

    # The empty set is on; the first toggle turns it off, the last drop on, "late" off.
    assert asyncio.run(scenario()) == 3, "woken on the changes of state only"


def test_every_event_reaches_kopf_without_managed_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf keeps each ModelDeployment's last body for its daemon: who manages which field
    is 40% of it, and nothing of ours reads it."""
    seen: list[dict[str, Any]] = []

    async def kopfs_own(**kwargs: Any) -> str:
        seen.append(kwargs)
        return "7"

    monkeypatch.setattr(kopf_at_scale, "_PROCESS", kopfs_own)
    monkeypatch.setattr(processing, "process_resource_event", processing.process_resource_event)
    kopf_at_scale.install()
    managed = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    body = {"metadata": {"name": "m", "managedFields": managed}, "spec": {"replicas": 2}}
    event = {"type": "MODIFIED", "object": body}
    answer = asyncio.run(processing.process_resource_event(raw_event=event, resource="r"))  # type: ignore[arg-type]
    assert answer == "7", "kopf's answer is passed back"
    assert seen == [{"raw_event": event, "resource": "r"}], "every other argument as given"
    assert body == {"metadata": {"name": "m"}, "spec": {"replicas": 2}}
    odd = {"type": None, "object": {"metadata": None}}  # malformed: left to kopf
    asyncio.run(processing.process_resource_event(raw_event=odd))  # type: ignore[call-arg]
    assert seen[-1]["raw_event"] is odd
