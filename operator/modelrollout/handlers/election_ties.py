"""What ties the event loop to the election (handlers.leadership): the loops wait for the
Lease, and the election hears that the event loop still turns.

kopf's startup and cleanup handlers, registered when handlers.main imports this module.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from modelrollout.handlers.fencing import Fence

HEARTBEAT_SECONDS = 1.0


@kopf.on.startup()
async def follow_the_lease(memo: kopf.Memo, **_: Any) -> None:
    """The loops wait for the Lease; the watches and caches run from now on (a hot
    standby). On the event loop, to know it."""
    runtime = memo.runtime
    event_loop = asyncio.get_running_loop()

    def leading() -> None:  # from the thread that hears the election
        event_loop.call_soon_threadsafe(runtime.leading.set)

    runtime.fence.when_leading(leading)
    # Kept in the memo: the event loop holds its tasks only weakly.
    memo["heartbeat"] = asyncio.create_task(heartbeat(runtime.fence))


async def heartbeat(fence: Fence) -> None:
    """Tells the election that this event loop turns (a stuck replica gives the Lease up,
    LeaseTiming.stall_seconds)."""
    while True:
        fence.alive()
        await asyncio.sleep(HEARTBEAT_SECONDS)


@kopf.on.cleanup()
async def stop_the_heartbeat(memo: kopf.Memo, **_: Any) -> None:
    """Before kopf's shutdown waits for the tasks it did not start (5 s for one that does
    not end): the Lease is handed back after kopf returns, with no more beats needed."""
    beating: asyncio.Task[None] | None = memo.get("heartbeat")
    if beating is not None:
        beating.cancel()
