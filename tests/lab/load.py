"""LAB-ONLY: an open-loop load generator that records every request's outcome.

Requests leave on a fixed schedule (`rps`), whether or not earlier ones have been
answered, so a slow backend cannot slow the load down and hide its own latency.
Each answer is recorded: when it was sent, how long it took, the HTTP status (0 for
a connection error or timeout), the model version that served it, and whether it
carried the generator's extra headers (sent with a set share of the requests, spread
evenly: a header route's testers).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

# Rows of the iris data set's four features (one of each class).
INSTANCES = ([5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5])
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Outcome:
    sent: float  # time.time()
    latency: float
    status: int  # 0: no HTTP answer
    version: str  # X-Model-Version of the answer; "" without one
    tagged: bool = False  # sent with the extra headers

    @property
    def ok(self) -> bool:
        return self.status == 200


class LoadGenerator:
    def __init__(
        self, url: str, rps: float, headers: dict[str, str] | None = None, share: float = 0.0
    ) -> None:
        self.url, self.rps = url, rps
        self.headers, self.share = headers or {}, share if headers else 0.0
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="lab-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        """Outcomes of requests sent in [start, end) (time.time())."""
        with self._lock:
            return [o for o in self.outcomes if start <= o.sent < end]

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        connector = aiohttp.TCPConnector(limit=500)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            pending: set[asyncio.Task[None]] = set()
            started, sent = time.monotonic(), 0
            while not self._stopping.is_set():
                due = started + sent / self.rps
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = {"instances": [INSTANCES[sent % len(INSTANCES)]]}
                # Every request where the running count of tagged ones steps up.
                tagged = int((sent + 1) * self.share) > int(sent * self.share)
                task = asyncio.create_task(self._one(session, body, tagged))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            if pending:
                await asyncio.wait(pending)

    async def _one(
        self, session: aiohttp.ClientSession, body: dict[str, Any], tagged: bool
    ) -> None:
        sent, clock = time.time(), time.monotonic()
        status, version = 0, ""
        headers = self.headers if tagged else None
        try:
            async with session.post(f"{self.url}/predict", json=body, headers=headers) as response:
                payload = await response.read()
                status, version = response.status, response.headers.get("X-Model-Version", "")
                if status == 200 and b'"predictions"' not in payload:
                    status = 0  # an answer without predictions is no answer
        except (aiohttp.ClientError, TimeoutError):
            pass
        outcome = Outcome(sent, time.monotonic() - clock, status, version, tagged)
        with self._lock:
            self.outcomes.append(outcome)
