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
from modelrollout.rate_limits import Priority, current


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
    assert (workers.per_namespace, workers.reserve, workers.calm) == (8, 8, 4)
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
        hostile = [
            asyncio.ensure_future(workers.run(Priority.ANALYSIS, "evil", stuck)) for _ in range(40)
        ]
        await until(lambda: running["hostile"] == 2)  # its share holds its threads
        done = [
            await asyncio.wait_for(
                workers.run(Priority.ANALYSIS, "victim", lambda: "analysis"), timeout=5
            ),
            await asyncio.wait_for(
                workers.run(Priority.ROUTINE, None, lambda: "rollback"), timeout=5
            ),
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


@pytest.mark.parametrize(
    ("priority", "namespaced"), [(Priority.ANALYSIS, True), (Priority.NEW_ROLLOUT, False)]
)
def test_work_that_can_wait_leaves_the_reserve(priority: Priority, namespaced: bool) -> None:
    """Analysis of many namespaces, or a burst of new rollouts: they hold all but the
    reserve, and a person's request still finds a thread, without counting as a stall."""
    workers = Workers(4, per_namespace=4, reserve=1)
    release = threading.Event()

    job, started = blocking(release)

    async def scenario() -> tuple[str, float]:
        blocked = [
            asyncio.ensure_future(workers.run(priority, f"ns{i}" if namespaced else None, job))
            for i in range(10)
        ]
        await until(lambda: started() == 3)  # all but the reserve hold their threads
        waited = workers.oldest_wait()
        plain = await asyncio.wait_for(
            workers.run(Priority.REQUEST, None, lambda: "request"), timeout=5
        )
        release.set()
        await asyncio.gather(*blocked)
        return plain, waited

    try:
        assert asyncio.run(scenario()) == ("request", 0.0)
    finally:
        release.set()
        workers.shutdown()
    assert started() == 10


def test_next_steps_leave_half_the_reserve_to_requests_rollbacks_and_promotions() -> None:
    """Eight threads, a reserve of four: new rollouts hold four, their next steps two
    more, and a person's request and a rollback still find a thread each."""
    workers = Workers(8, per_namespace=2, reserve=4)
    release = threading.Event()
    job, started = blocking(release)

    async def scenario() -> list[str]:
        blocked = [
            asyncio.ensure_future(workers.run(priority, None, job))
            for priority in [Priority.NEW_ROLLOUT] * 10 + [Priority.ROUTINE] * 10
        ]
        await until(lambda: started() == 6)
        done = [
            await asyncio.wait_for(workers.run(p, None, lambda p=p: p.name), timeout=5)
            for p in (Priority.REQUEST, Priority.ROLLBACK)
        ]
        assert started() == 6, "nothing else took a reserved thread"
        release.set()
        await asyncio.gather(*blocked)
        return done

    try:
        assert asyncio.run(scenario()) == ["REQUEST", "ROLLBACK"]
    finally:
        release.set()
        workers.shutdown()
    assert started() == 20


def test_while_urgent_work_runs_other_work_starts_only_below_calm() -> None:
    """Three routine jobs run when a person's abort starts: three more queued behind do
    not start (calm is two); once two of the first finish, one starts (two run), and
    the rest once the abort is done. Urgent work itself always starts."""
    workers = Workers(8, per_namespace=2, reserve=2, calm=2)
    names = ["a0", "a1", "a2", "abort", "rollback", "b0", "b1", "b2"]
    releases = {name: threading.Event() for name in names}
    started: list[str] = []

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            started.append(name)
            releases[name].wait(timeout=30)

        return run

    def submit(priority: Priority, name: str) -> asyncio.Future[None]:
        return asyncio.ensure_future(workers.run(priority, None, job(name)))

    def running_bs() -> int:
        return sum(name.startswith("b") for name in started)

    async def scenario() -> None:
        first = [submit(Priority.ROUTINE, f"a{i}") for i in range(3)]
        abort = submit(Priority.REQUEST, "abort")
        await asyncio.sleep(0)  # turns are handed out as jobs queue, on the event loop
        later = [submit(Priority.ROUTINE, f"b{i}") for i in range(3)]
        await asyncio.sleep(0)
        assert (workers._busy, workers._busy_not_urgent) == (4, 3), "the b's wait"
        rollback = submit(Priority.ROLLBACK, "rollback")
        await asyncio.sleep(0)
        assert workers._busy_urgent == 2, "urgent work starts whatever else runs"
        releases["a0"].set()
        releases["a1"].set()
        await asyncio.gather(first[0], first[1])
        await until(lambda: running_bs() == 1)
        assert workers._busy_not_urgent == 2
        releases["rollback"].set()
        await rollback
        assert (running_bs(), workers._busy_not_urgent) == (1, 2), "the abort still runs"
        releases["abort"].set()
        await abort
        await until(lambda: running_bs() == 3)
        for release in releases.values():
            release.set()
        await asyncio.gather(*first, *later)

    try:
        asyncio.run(scenario())
    finally:
        for release in releases.values():
            release.set()
        workers.shutdown()
    assert workers._busy == 0
    with pytest.raises(ValueError, match="let other work go on"):
        Workers(4, per_namespace=1, reserve=1, calm=0)


def test_a_free_thread_goes_to_the_most_urgent_job_waiting() -> None:
    """One thread, held; five new rollouts queue, then a person's request and an
    analysis: the request runs first, the new rollouts last, each at its priority."""
    workers = Workers(1, per_namespace=1, reserve=0)
    release = threading.Event()
    job, started = blocking(release)
    ran: list[tuple[str, Priority]] = []

    def noted(what: str) -> Callable[[], None]:
        return lambda: ran.append((what, current()))

    async def scenario() -> None:
        first = asyncio.ensure_future(workers.run(Priority.ROUTINE, None, job))
        await until(lambda: started() == 1)
        queued = [
            asyncio.ensure_future(workers.run(Priority.NEW_ROLLOUT, None, noted(f"new-{i}")))
            for i in range(5)
        ]
        queued.append(asyncio.ensure_future(workers.run(Priority.ANALYSIS, None, noted("look"))))
        cancelled = asyncio.ensure_future(workers.run(Priority.REQUEST, None, noted("gone")))
        queued.append(asyncio.ensure_future(workers.run(Priority.REQUEST, None, noted("abort"))))
        await asyncio.sleep(0)  # all in line
        cancelled.cancel()
        release.set()
        await asyncio.gather(first, *queued)

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        workers.shutdown()
    assert ran == [
        ("abort", Priority.REQUEST),
        ("look", Priority.ANALYSIS),
        *[(f"new-{i}", Priority.NEW_ROLLOUT) for i in range(5)],
    ]
    assert workers._busy == 0, "every thread handed back, the cancelled job's turn too"


def test_a_job_with_a_free_thread_and_nobody_in_line_starts_without_a_round_trip() -> None:
    """A thousand loops waking together (a standby taking the Lease) each run to their
    first wait before the event loop runs anything else: the first ones' work is on its
    threads by then, not queued behind every other loop's wake-up (the turn is given
    before it is awaited)."""
    workers = Workers(2, per_namespace=1, reserve=0)
    release = threading.Event()
    job, _ = blocking(release)

    async def scenario() -> list[bool]:
        started = [asyncio.Event() for _ in range(3)]
        jobs = [
            asyncio.ensure_future(workers.run(Priority.ROUTINE, None, job, started=event))
            for event in started
        ]
        await asyncio.sleep(0)  # each job's task ran once, to its first wait
        handed = [event.is_set() for event in started]
        release.set()
        await asyncio.gather(*jobs)
        return handed

    try:
        handed = asyncio.run(scenario())
    finally:
        release.set()
        workers.shutdown()
    assert handed == [True, True, False], "two free threads taken at once; the third waits"
    assert workers._busy == 0


def test_the_oldest_wait_for_a_thread_is_reported() -> None:
    workers = Workers(1, per_namespace=1, reserve=0)
    release = threading.Event()

    job, started = blocking(release)

    async def scenario() -> float:
        first = asyncio.ensure_future(workers.run(Priority.ROUTINE, None, job))
        await until(lambda: started() == 1)
        second = asyncio.ensure_future(workers.run(Priority.ROUTINE, None, lambda: None))
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
        first = asyncio.ensure_future(workers.run(Priority.ROUTINE, None, job))
        await until(lambda: started() == 1)
        second = asyncio.ensure_future(workers.run(Priority.ROUTINE, None, lambda: None))
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
