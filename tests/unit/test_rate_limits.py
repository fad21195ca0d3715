"""The client-side rate limits: a token bucket whose tokens go to the most urgent
waiter first (modelrollout.rate_limits), one per Prometheus endpoint (query_rates)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from modelrollout.metrics.query_rates import QueryRates
from modelrollout.rate_limits import Priority, PriorityBucket, current, working_at


def test_a_burst_is_free_then_tokens_come_at_the_rate() -> None:
    bucket = PriorityBucket(rate=20, burst=3)
    began = time.monotonic()
    for _ in range(7):
        bucket.take()
    # 3 saved, then 4 at 20/s: never sooner than 0.2 s, however idle the machine
    assert time.monotonic() - began >= 4 / 20 - 0.01
    assert bucket._tokens < 1


def test_no_rate_is_no_limit() -> None:
    bucket = PriorityBucket(rate=0, burst=0)
    assert all(bucket.take() == 0.0 for _ in range(10_000))


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (5, 0)])
def test_an_impossible_limit_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate >= 0 and burst >= 1"):
        PriorityBucket(rate, burst)


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_tokens_go_to_the_most_urgent_waiter_first() -> None:
    """The bucket is empty; ten new rollouts wait for a token, then an abort comes: it
    takes the next token (or the one after, had one been handed out as it came: a token
    every half second leaves a busy machine time to start the abort's thread)."""
    bucket = PriorityBucket(rate=2, burst=1)
    bucket.take()
    order: list[str] = []
    lock = threading.Lock()

    def waiter(name: str, priority: Priority) -> None:
        with working_at(priority):
            bucket.take()
        with lock:
            order.append(name)

    def start(name: str, priority: Priority) -> threading.Thread:
        thread = threading.Thread(target=waiter, args=(name, priority))
        thread.start()
        return thread

    threads = [start(f"new-{i}", Priority.NEW_ROLLOUT) for i in range(10)]
    until(lambda: len(bucket._waiting) + len(order) == 10)
    with lock:
        before = len(order)
    threads.append(start("abort", Priority.REQUEST))
    for thread in threads:
        thread.join(timeout=30)
    assert len(order) == 11
    assert order.index("abort") <= before + 1, order


def test_a_threads_priority_is_set_for_its_work_only() -> None:
    assert current() == Priority.ROUTINE
    with working_at(Priority.REQUEST):
        assert current() == Priority.REQUEST
        with working_at(Priority.ANALYSIS):
            assert current() == Priority.ANALYSIS
        assert current() == Priority.REQUEST
    assert current() == Priority.ROUTINE


def test_each_prometheus_endpoint_has_a_bucket_of_its_own() -> None:
    rates = QueryRates(10, 20)
    one = rates.bucket("http://prometheus.monitoring:9090")
    assert rates.bucket("http://PROMETHEUS.monitoring:9090/") is one, "the same endpoint"
    assert rates.bucket("http://prometheus.monitoring:9091") is not one
    assert rates.bucket("https://prometheus.monitoring:9090") is not one
    assert (one.rate, one.burst) == (10, 20)
    with pytest.raises(ValueError, match="burst"):
        QueryRates(10, 0)
