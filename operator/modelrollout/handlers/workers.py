"""The operator's worker threads, with a bulkhead for analysis and a measure of progress.

Every reconcile's blocking work runs on one pool (`--workers`). A reconcile that will
query a metrics provider may hold a thread for up to its timeouts, and any tenant
chooses where its provider is: a slow or hostile endpoint must not take the threads
every other rollout and every rollback needs. So, before a thread is taken (waiting in
the event loop, holding nothing):

- analysis work of one namespace holds at most `per_namespace` threads;
- work that can wait (analysis, and starting a version not yet rolled out) holds at
  most `size - reserve` threads, and a rollout's next step (and an idle reconcile)
  with it at most `size - reserve / 2`: so a person's request, a rollback and a
  promotion's traffic move once decided always find a thread. Each waits for the API
  server's rate limit while it holds its thread: without the reserves a thousand
  rollouts starting at once, and their next steps, would hold every thread, and an
  abort would wait for a thread behind them.

A free thread goes to the most urgent job waiting (modelrollout.rate_limits.Priority),
not to the first in line: when a thousand rollouts start at once, a person's abort
is the next job to run. The job's thread works at that priority, so its requests wait
for the API server's rate limit in the same order.

Urgent work also goes first for the interpreter. Threads of one process share one
interpreter lock, and an abort running beside 28 busy reconciles (at a takeover every
loop reconciles at once) may get as little as a 29th of it. So while urgent work
runs, other work starts only while fewer than `calm` such jobs run (a few: routine
work slows down, it never stops); what already runs goes on.

`oldest_wait()` is how long the longest-queued job that must not wait (above analysis)
has waited for a thread: the pool not making progress is what the liveness probe
reports.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelrollout.rate_limits import Priority, working_at

T = TypeVar("T")


def can_wait(priority: Priority) -> bool:
    return priority >= Priority.ANALYSIS


def urgent(priority: Priority) -> bool:
    return priority < Priority.ROUTINE


@dataclass
class Workers:
    size: int
    per_namespace: int
    reserve: int
    calm: int = 1  # other jobs that may start while urgent work runs (below `calm` running)
    executor: ThreadPoolExecutor = field(init=False)
    _namespaces: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    # job -> when it was queued, for the jobs that must not wait (liveness)
    _queued: dict[int, float] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _busy: int = 0  # threads handed out
    _busy_not_urgent: int = 0  # of which to routine work and work that can wait
    _busy_waitable: int = 0  # of which to work that can wait
    # (priority, job, its turn) waiting for a thread, the most urgent first
    _line: list[tuple[Priority, int, asyncio.Future[None]]] = field(default_factory=list)

    @classmethod
    def sized(cls, size: int) -> Workers:
        """A quarter of the threads kept from work that can wait (at least one), a
        namespace's analysis held to a quarter of them (at least one), and an eighth
        (at least one) for other work while urgent work runs."""
        share = max(1, size // 4)
        calm = max(1, size // 8)
        return cls(size, per_namespace=share, reserve=min(share, size - 1), calm=calm)

    def __post_init__(self) -> None:
        if not 0 <= self.reserve < self.size:
            raise ValueError(f"reserve {self.reserve} must leave a thread of {self.size}")
        if self.calm < 1:
            raise ValueError(f"calm {self.calm} must let other work go on (at least 1)")
        self.executor = ThreadPoolExecutor(self.size, thread_name_prefix="reconcile")

    async def run(
        self,
        priority: Priority,
        analysis_of: str | None,
        work: Callable[..., T],
        *args: Any,
        started: asyncio.Event | None = None,
    ) -> T:
        """`work(*args)` on a thread, at `priority`; `analysis_of`: the namespace whose
        metrics it queries (None: it queries none), for the bulkhead. `started` is set
        once it has its thread: cancelled before that, it never runs."""
        if analysis_of is None:
            return await self._on_thread(priority, started, work, *args)
        gate = self._namespaces.setdefault(analysis_of, asyncio.Semaphore(self.per_namespace))
        async with gate:
            return await self._on_thread(priority, started, work, *args)

    async def _on_thread(
        self,
        priority: Priority,
        started: asyncio.Event | None,
        work: Callable[..., T],
        *args: Any,
    ) -> T:
        job = next(self._ids)
        if not can_wait(priority):
            self._queued[job] = time.monotonic()
        try:
            await self._turn(priority, job)
            if started is not None:
                started.set()

            def on_thread() -> T:
                self._queued.pop(job, None)
                with working_at(priority):
                    return work(*args)

            running = asyncio.get_running_loop().run_in_executor(self.executor, on_thread)
            running.add_done_callback(lambda _: self._release(priority))
            # Shielded: a job handed to a thread runs to its end (it records what it did).
            return await asyncio.shield(running)
        finally:
            self._queued.pop(job, None)

    async def _turn(self, priority: Priority, job: int) -> None:
        """Wait until a thread is ours: the most urgent job that may run goes first."""
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._line, (priority, job, turn))
        self._dispatch()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(priority)  # given a thread as we were cancelled: pass it on
            raise

    def _may_run(self, priority: Priority) -> bool:
        """A free thread, the reserves of every more urgent kind of work left, and calm
        while urgent work runs (so when the line's head may not run, nothing behind it
        may)."""
        if self._busy >= self.size:
            return False
        if not urgent(priority):
            if self._busy_not_urgent >= self.size - self.reserve // 2:
                return False
            if self._busy_urgent and self._busy_not_urgent >= self.calm:
                return False
        return not can_wait(priority) or self._busy_waitable < self.size - self.reserve

    def _dispatch(self) -> None:
        """Free threads to the most urgent jobs waiting. The line is in priority order,
        so once its head may not run (work that can wait, its share taken) none may."""
        while self._line:
            priority, _, turn = self._line[0]
            if turn.done():  # cancelled while waiting
                heapq.heappop(self._line)
                continue
            if not self._may_run(priority):
                return
            heapq.heappop(self._line)
            self._count(priority, 1)
            turn.set_result(None)

    def _release(self, priority: Priority) -> None:
        self._count(priority, -1)
        self._dispatch()

    def _count(self, priority: Priority, threads: int) -> None:
        self._busy += threads
        self._busy_not_urgent += threads * (not urgent(priority))
        self._busy_waitable += threads * can_wait(priority)

    @property
    def _busy_urgent(self) -> int:
        """Threads handed out to urgent work."""
        return self._busy - self._busy_not_urgent

    def oldest_wait(self) -> float:
        """Seconds the longest-queued job that must not wait has waited for a thread (0:
        none waits); work that can wait may wait its turn."""
        queued = list(self._queued.values())
        return time.monotonic() - min(queued) if queued else 0.0

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)  # jobs in hand finish and record
