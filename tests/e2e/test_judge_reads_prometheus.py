"""The judge's read plan carried out by a real Prometheus: a counter series that first
appears with its first increment (an error code never seen before) is counted from
zero, where increase() alone misses it; series that were there when the judge began
are counted by increase(); a class counter is read by class."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, start_http_server

from modelrollout.api.spec import PrometheusSource
from modelrollout.engine.checks.reads import LookPlan, Matcher, SeriesRead, Side
from modelrollout.metrics.endpoints import EndpointPolicy
from modelrollout.metrics.prometheus import PrometheusProvider
from testenv.ports import free_port
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus

LABELS = ["namespace", "model", "version", "code"]
LOOPBACK = EndpointPolicy.parse(["127.0.0.1"])  # as the operator's --prometheus-allow


@pytest.fixture
def exporter(prometheus: LocalPrometheus) -> Iterator[Counter]:
    registry = CollectorRegistry()
    counter = Counter("probe_requests", "Requests.", LABELS, registry=registry)
    for version in ("1", "2"):
        counter.labels("ml", "probe", version, "200")  # at zero, as a server should
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    prometheus.add_target("probe", f"127.0.0.1:{port}")
    try:
        yield counter
    finally:
        prometheus.remove_target("probe")
        server.shutdown()
        thread.join()


def first(prometheus: LocalPrometheus, query: str) -> float | None:
    answer = requests.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=2)
    result = answer.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def scraped(prometheus: LocalPrometheus, query: str, value: float) -> bool:
    return first(prometheus, query) == value


def test_a_series_born_after_the_judge_began_counts_from_zero(
    prometheus: LocalPrometheus, exporter: Counter
) -> None:
    selector = 'probe_requests_total{version="2", code="200"}'
    wait_until(lambda: scraped(prometheus, selector, 0), timeout=30, what="the zeros scraped")
    since = datetime.now(UTC)
    # The judge began a scrape or two before the first error (1 s scrapes).
    wait_until(
        lambda: (first(prometheus, f"timestamp({selector})") or 0) > since.timestamp() + 1.5,
        timeout=30,
        what="a scrape after the judge began",
    )
    exporter.labels("ml", "probe", "2", "500").inc()  # a code never seen before
    exporter.labels("ml", "probe", "2", "200").inc(10)
    exporter.labels("ml", "probe", "1", "200").inc(20)
    wait_until(
        lambda: scraped(prometheus, 'probe_requests_total{version="2", code="500"}', 1),
        timeout=30,
        what="the first error scraped",
    )
    wait_until(lambda: scraped(prometheus, selector, 10), timeout=30, what="the rest scraped")

    errors = (
        SeriesRead("errors", "requests", "probe_requests_total"),
        SeriesRead("errors", "bad", "probe_requests_total", (Matcher("code", "5..", "regex"),)),
    )
    window = datetime.now(UTC) - since
    plan = LookPlan(since, window, Side("2", "b"), Side("1", "a"), errors)
    provider = PrometheusProvider(PrometheusSource(url=prometheus.url), policy=LOOPBACK)
    try:
        tallies = provider.tallies(plan, "ml", "probe")
        seconds = f"{window.total_seconds():.0f}s"
        naive = provider.value(
            f'sum(increase(probe_requests_total{{version="2", code=~"5.."}}[{seconds}]))'
        )
    finally:
        provider.close()
    assert tallies[("canary", "errors", "bad", "")] == 1, "the first error, counted"
    assert naive in (None, 0.0), "increase() alone does not see it"
    # increase() extrapolates towards the window's ends: about 10 and 20, give or take.
    assert 10 <= tallies[("canary", "errors", "requests", "")] - 1 <= 10 * 1.5
    assert 20 <= tallies[("stable", "errors", "requests", "")] <= 20 * 1.5
    assert ("stable", "errors", "bad", "") not in tallies, "no 5xx series on stable at all"


def test_a_grouped_read_is_answered_by_bucket(
    prometheus: LocalPrometheus, exporter: Counter
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    exporter.labels("ml", "probe", "2", "404").inc(3)
    wait_until(
        lambda: scraped(prometheus, 'probe_requests_total{version="2", code="404"}', 3),
        timeout=30,
        what="the 404s scraped",
    )
    by_code = (SeriesRead("p", "buckets", "probe_requests_total", by="code"),)
    plan = LookPlan(since, datetime.now(UTC) - since, Side("2", "b"), Side("1", "a"), by_code)
    provider = PrometheusProvider(PrometheusSource(url=prometheus.url), policy=LOOPBACK)
    try:
        tallies = provider.tallies(plan, "ml", "probe")
    finally:
        provider.close()
    assert tallies[("canary", "p", "buckets", "404")] == 3
    assert ("canary", "p", "buckets", "200") in tallies
    assert ("stable", "p", "buckets", "200") in tallies
