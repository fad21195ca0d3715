"""A reconcile waiting in line for a thread is overtaken by a more urgent change of its
own object (handlers.waits): dropped unrun and queued again, and no wake-up is lost."""

from __future__ import annotations

import asyncio
import threading

from modelrollout.handlers.waits import overtaken
from modelrollout.handlers.workers import Workers
from modelrollout.rate_limits import Priority


def scenario(more_urgent: bool) -> tuple[bool, list[str], bool]:
    """One thread, held; a job queued behind it as analysis; then a wake-up."""
    workers = Workers(1, per_namespace=1, reserve=0)
    release = threading.Event()
    ran: list[str] = []

    async def run() -> tuple[bool, bool]:
        holding = asyncio.ensure_future(
            workers.run(Priority.ROUTINE, None, lambda: release.wait(timeout=30))
        )
        wake, started = asyncio.Event(), asyncio.Event()
        queued = asyncio.ensure_future(
            workers.run(Priority.ANALYSIS, None, lambda: ran.append("look"), started=started)
        )
        waiting = asyncio.ensure_future(overtaken(queued, started, wake, lambda: more_urgent))
        await asyncio.sleep(0)  # in line
        wake.set()  # the object changed
        await asyncio.sleep(0.05)
        release.set()  # the thread is free
        result = await asyncio.wait_for(waiting, timeout=10)
        await holding
        return result, wake.is_set()

    try:
        dropped, woken = asyncio.run(run())
    finally:
        release.set()
        workers.shutdown()
    return dropped, ran, woken


def test_a_more_urgent_change_drops_the_queued_reconcile_unrun() -> None:
    assert scenario(more_urgent=True) == (True, [], True)


def test_a_change_no_more_urgent_waits_its_turn_and_is_still_to_reconcile() -> None:
    assert scenario(more_urgent=False) == (False, ["look"], True)


def test_a_reconcile_on_its_thread_runs_to_its_end() -> None:
    workers = Workers(1, per_namespace=1, reserve=0)

    async def run() -> tuple[bool, str]:
        wake, started = asyncio.Event(), asyncio.Event()
        release = threading.Event()
        queued = asyncio.ensure_future(
            workers.run(
                Priority.ANALYSIS, None, lambda: release.wait(10) and "done", started=started
            )
        )
        waiting = asyncio.ensure_future(overtaken(queued, started, wake, lambda: True))
        await asyncio.wait_for(started.wait(), timeout=10)
        wake.set()
        release.set()
        return await asyncio.wait_for(waiting, timeout=10), await queued

    try:
        assert asyncio.run(run()) == (False, "done")
    finally:
        workers.shutdown()
