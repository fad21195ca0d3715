"""The bulkhead: one namespace's analysis cannot take the threads others need, and work
that queries nothing always finds one."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable

import pytest

from modelrollout.handlers.workers import Workers


async def until(condition: Callable[[], bool]) -> None:
    """Poll the event loop until `condition` holds (threads start late on a busy machine)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def blocking(release: threading.Event) -> tuple[Callable[[], None], Callable[[], int]]:
    """A job that holds its thread until `release`, and how many such jobs started."""
    started = itertools.count()
    seen = [0]

    def job() -> None:
        seen[0] = next(started) + 1
        release.wait(timeout=30)

    return job, lambda: seen[0]


def test_sizes_keep_a_reserve_and_bound_a_namespace() -> None:
    workers = Workers.sized(32)
    assert (workers.per_namespace, workers.reserve) == (8, 8)
    assert (Workers.sized(2).per_namespace, Workers.sized(2).reserve) == (1, 1)
    with pytest.raises(ValueError, match="must leave a thread"):
        Workers(2, per_namespace=1, reserve=2)


def test_a_stalled_namespace_holds_only_its_share_and_never_the_reserve() -> None:
    """Eight threads: one namespace's analysis jobs all block (a hostile endpoint). It
    holds two threads; another namespace's analysis and plain work still run."""
    workers = Workers(8, per_namespace=2, reserve=2)
    release = threading.Event()
    running: dict[str, int] = {"hostile": 0}
    lock = threading.Lock()

    def stuck() -> str:
        with lock:
            running["hostile"] += 1
        release.wait(timeout=30)
        return "hostile"

    async def scenario() -> tuple[list[str], float]:
        hostile = [asyncio.ensure_future(workers.run("evil", stuck)) for _ in range(40)]
        await until(lambda: running["hostile"] == 2)  # its share holds its threads
        done = [
            await asyncio.wait_for(workers.run("victim", lambda: "analysis"), timeout=5),
            await asyncio.wait_for(workers.run(None, lambda: "rollback"), timeout=5),
        ]
        waited = workers.oldest_wait()
        release.set()
        await asyncio.gather(*hostile)
        return done, waited

    try:
        done, waited = asyncio.run(scenario())
    finally:
        release.set()
        workers.shutdown()
    assert done == ["analysis", "rollback"]
    assert running["hostile"] == 40
    assert waited == 0.0, "nothing waited for a thread: the hostile jobs wait at their gate"


def test_all_analysis_together_leaves_the_reserve() -> None:
    workers = Workers(4, per_namespace=4, reserve=1)
    release = threading.Event()

    job, started = blocking(release)

    async def scenario() -> str:
        blocked = [asyncio.ensure_future(workers.run(f"ns{i}", job)) for i in range(10)]
        await until(lambda: started() == 3)  # all but the reserve hold their threads
        plain = await asyncio.wait_for(workers.run(None, lambda: "request"), timeout=5)
        release.set()
        await asyncio.gather(*blocked)
        return plain

    try:
        assert asyncio.run(scenario()) == "request"
    finally:
        release.set()
        workers.shutdown()


def test_the_oldest_wait_for_a_thread_is_reported() -> None:
    workers = Workers(1, per_namespace=1, reserve=0)
    release = threading.Event()

    job, started = blocking(release)

    async def scenario() -> float:
        first = asyncio.ensure_future(workers.run(None, job))
        await until(lambda: started() == 1)
        second = asyncio.ensure_future(workers.run(None, lambda: None))
        await asyncio.sleep(0)  # queued from here on
        await asyncio.sleep(0.3)
        waited = workers.oldest_wait()
        release.set()
        await asyncio.gather(first, second)
        return waited

    began = time.monotonic()
    try:
        waited = asyncio.run(scenario())
    finally:
        release.set()
        workers.shutdown()
    assert 0.2 <= waited <= time.monotonic() - began
    assert workers.oldest_wait() == 0.0


def test_the_liveness_probe_fails_once_a_reconcile_waited_too_long() -> None:
    import kopf
    from kubernetes import client

    from modelrollout.handlers.caches import Wakes
    from modelrollout.handlers.loop import Runtime
    from modelrollout.handlers.main import workers_progress

    workers = Workers(1, per_namespace=1, reserve=0)
    runtime = Runtime(
        api=client.ApiClient(),
        workers=workers,
        wakes=Wakes(),
        routes_served=frozenset({"httproutes"}),
    )
    runtime.stall_seconds = 0.2
    memo = kopf.Memo(runtime=runtime)
    release = threading.Event()

    job, started = blocking(release)

    async def scenario() -> tuple[dict[str, float], BaseException | None]:
        healthy = workers_progress(memo)
        first = asyncio.ensure_future(workers.run(None, job))
        await until(lambda: started() == 1)
        second = asyncio.ensure_future(workers.run(None, lambda: None))
        await asyncio.sleep(0)  # queued from here on
        await asyncio.sleep(0.4)
        try:
            workers_progress(memo)
            failed = None
        except kopf.PermanentError as exc:
            failed = exc
        release.set()
        await asyncio.gather(first, second)
        return healthy, failed

    try:
        healthy, failed = asyncio.run(scenario())
    finally:
        release.set()
        workers.shutdown()
    assert healthy == {"oldest_wait_seconds": 0.0}
    assert failed is not None
    assert "waited" in str(failed)
