"""Fencing: a replica writes only while it provably holds the Lease.

A leader frozen for longer than the Lease (a throttled CPU, a stopped VM) wakes up
with decisions in hand while a successor is already acting. Losing the Lease is
noticed by the election only at its next try, seconds later; so every write is
checked instead, just before it is sent: the last successful renewal (timed from
before its request was sent, and read from the memory the election process shares,
handlers.lease_state) must be younger than the renew deadline. A successor cannot take
the Lease until a whole Lease duration after it saw that renewal, so the difference
(the Lease duration minus the renew deadline, 1 s by default) covers a write's flight
to the API server. docs/architecture.md has the whole argument.

A write that fails the check raises NotLeading, which is a BaseException on purpose:
it passes through every `except Exception` that turns an ordinary failure into a
ReconcileError, so nothing after it is written either (no status, no Event); the loop
decides again once the Lease is renewed, and the election exits the process once it
knows the Lease is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from kubernetes import client

from modelrollout.rate_limits import PriorityBucket

UNLIMITED = PriorityBucket(0, 0)

# Counts during a suspended system too (a stopped or migrated VM), unlike CLOCK_MONOTONIC.
_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def clock() -> float:
    return time.clock_gettime(_CLOCK)


class NotLeading(BaseException):  # a signal to stop, like SystemExit
    """This replica cannot prove it holds the Lease: it must not write."""


class Fence(Protocol):
    def holds(self) -> bool:
        """True while this replica provably holds the Lease."""
        ...

    def when_leading(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this replica leads (from any thread), or at once."""
        ...

    def alive(self) -> None:
        """The operator's event loop turned (a replica stuck for long gives up the Lease)."""
        ...


class Standalone:
    """No election: the only replica always acts."""

    def holds(self) -> bool:
        return True

    def when_leading(self, callback: Callable[[], None]) -> None:
        callback()

    def alive(self) -> None:
        return None


class FencedApiClient(client.ApiClient):
    """The Kubernetes client whose every write first checks the fence, and every request
    waits for the rate limit (at the calling thread's priority, rate_limits)."""

    def __init__(
        self,
        configuration: client.Configuration,
        fence: Fence,
        rate_limit: PriorityBucket = UNLIMITED,
    ) -> None:
        super().__init__(configuration)
        self.fence = fence
        self.rate_limit = rate_limit

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.rate_limit.take()  # first: the fence is checked just before the request is sent
        if method.upper() not in _READS and not self.fence.holds():
            raise NotLeading(f"{method} {urlsplit(url).path}: the Lease is not provably held")
        return super().call_api(method, url, *args, **kwargs)
