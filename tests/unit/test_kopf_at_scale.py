"""The fix for kopf's quadratic startup: a toggle set wakes its waiters only when its
overall state changes, and otherwise behaves as kopf's own."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits.aiotoggles import ToggleSet

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
