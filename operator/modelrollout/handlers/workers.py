"""The operator's worker threads, with a bulkhead for analysis and a measure of progress.

Every reconcile's blocking work runs on one pool (`--workers`). A reconcile that will
query a metrics provider may hold a thread for up to its timeouts, and any tenant
chooses where its provider is: a slow or hostile endpoint must not take the threads
every other rollout and every rollback needs. So, before a thread is taken (waiting in
the event loop, holding nothing):

- analysis work of one namespace holds at most `per_namespace` threads;
- analysis work of all namespaces holds at most `size - reserve` threads, so `reserve`
  threads are always left for work that queries nothing: a person's request (decided
  without measuring), a rollback or a promotion's traffic move once decided, an idle
  reconcile.

`oldest_wait()` is how long the longest-queued job has waited for a thread: the pool
not making progress is what the liveness probe reports.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Workers:
    size: int
    per_namespace: int
    reserve: int
    executor: ThreadPoolExecutor = field(init=False)
    _analysis: asyncio.Semaphore = field(init=False)
    _namespaces: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _queued: dict[int, float] = field(default_factory=dict)  # job -> when it was queued
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def sized(cls, size: int) -> Workers:
        """A quarter of the threads kept from analysis (at least one), and a namespace's
        analysis held to a quarter of them (at least one)."""
        share = max(1, size // 4)
        return cls(size, per_namespace=share, reserve=min(share, size - 1))

    def __post_init__(self) -> None:
        if not 0 <= self.reserve < self.size:
            raise ValueError(f"reserve {self.reserve} must leave a thread of {self.size}")
        self.executor = ThreadPoolExecutor(self.size, thread_name_prefix="reconcile")
        self._analysis = asyncio.Semaphore(self.size - self.reserve)

    async def run(self, analysis_of: str | None, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on a thread; `analysis_of`: the namespace whose metrics it
        queries (None: it queries none), for the bulkhead."""
        if analysis_of is None:
            return await self._on_thread(work, *args)
        gate = self._namespaces.setdefault(analysis_of, asyncio.Semaphore(self.per_namespace))
        async with gate, self._analysis:
            return await self._on_thread(work, *args)

    async def _on_thread(self, work: Callable[..., T], *args: Any) -> T:
        job = next(self._ids)
        self._queued[job] = time.monotonic()

        def started() -> T:
            self._queued.pop(job, None)
            return work(*args)

        try:
            # Shielded: a job handed to a thread runs to its end (it records what it did).
            return await asyncio.shield(
                asyncio.get_running_loop().run_in_executor(self.executor, started)
            )
        finally:
            self._queued.pop(job, None)

    def oldest_wait(self) -> float:
        """Seconds the longest-queued job has waited for a thread (0: none waits)."""
        queued = list(self._queued.values())
        return time.monotonic() - min(queued) if queued else 0.0

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)  # jobs in hand finish and record
