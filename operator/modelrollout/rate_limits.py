"""Client-side rate limits with priority: toward the API server and toward each Prometheus.

A token bucket (`rate` tokens a second, up to `burst` saved) that hands its tokens to
the most urgent waiter first, whatever the order they came in: when a thousand
rollouts start at once, a person's abort waits for the next token, not for the
thousand. The urgency is the calling thread's (`working_at`), set by the loop for
each reconcile, so no adapter passes it along.

Shared by the adapters of every layer (the API client in handlers, Prometheus in
metrics), so it belongs to none of them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum


class Priority(IntEnum):
    """Lower goes first."""

    REQUEST = 0  # a person's request (abort, promote, ...)
    ROLLBACK = 1  # traffic back to stable
    PROMOTION = 2  # a promotion's traffic move
    ROUTINE = 3  # a rollout's next step, an idle look
    ANALYSIS = 4  # measuring: queries, then their verdict
    NEW_ROLLOUT = 5  # a version not yet rolled out: it can wait its turn


_this_thread = threading.local()


def current() -> Priority:
    """The calling thread's priority (ROUTINE when none was set)."""
    return getattr(_this_thread, "priority", Priority.ROUTINE)


@contextmanager
def working_at(priority: Priority) -> Iterator[None]:
    before = current()
    _this_thread.priority = priority
    try:
        yield
    finally:
        _this_thread.priority = before


class PriorityBucket:
    """`rate` requests a second on average, `burst` at once; `rate` 0: no limit."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate < 0 or (rate > 0 and burst < 1):
            raise ValueError(f"a rate limit needs rate >= 0 and burst >= 1, got {rate}/{burst}")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._waiting: list[tuple[int, int]] = []  # (priority, ticket), the next first
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def take(self, priority: Priority | None = None) -> float:
        """Wait for a token, behind every more urgent waiter; the seconds waited."""
        if not self.rate:
            return 0.0
        started = time.monotonic()
        mine = (current() if priority is None else priority, next(self._tickets))
        with self._changed:
            heapq.heappush(self._waiting, mine)
            try:
                while True:
                    self._refill()
                    first = self._waiting[0] == mine
                    if first and self._tokens >= 1:
                        self._tokens -= 1
                        return time.monotonic() - started
                    self._changed.wait(timeout=(1 - self._tokens) / self.rate if first else None)
            finally:  # taken, or given up (an interrupt): out of the line either way
                self._waiting.remove(mine)
                heapq.heapify(self._waiting)
                self._changed.notify_all()  # the next in line may have a token

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
