"""LAB-ONLY: an open-loop schedule: requests leave at a fixed rate whether or not earlier
ones were answered, so a slow backend cannot slow the load down and hide its latency."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp


async def open_loop(
    rps: float,
    stopping: threading.Event,
    timeout: float,
    one: Callable[[aiohttp.ClientSession, int], Coroutine[Any, Any, None]],
) -> None:
    """Call `one(session, n)` for n = 0, 1, ... on a fixed schedule of `rps` a second,
    whether or not earlier calls have finished, until `stopping`; then wait for them."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    connector = aiohttp.TCPConnector(limit=500)
    async with aiohttp.ClientSession(timeout=client_timeout, connector=connector) as session:
        pending: set[asyncio.Task[None]] = set()
        started, sent = time.monotonic(), 0
        while not stopping.is_set():
            delay = started + sent / rps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(session, sent))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        if pending:
            await asyncio.wait(pending)
