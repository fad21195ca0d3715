"""The per-object loop's pure parts: wake-ups, which body to decide on, when to run next."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.engine.model import Emit
from modelrollout.handlers import loop
from modelrollout.handlers.caches import Wakes, snapshot
from modelrollout.handlers.loop import Runtime, Turn, _delay
from modelrollout.handlers.workers import Workers
from modelrollout.reconcile import Result
from modelrollout.routing.router import RouteKind


@pytest.fixture
def rt() -> Runtime:
    return Runtime(
        api=client.ApiClient(),
        workers=Workers.sized(1),
        wakes=Wakes(),
        routes_served=frozenset({"httproutes"}),
        resync_seconds=300,
        invalid_recheck_seconds=30,
    )


def body(version: str, phase: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}, "status": {"phase": phase}}


def test_the_body_decided_on_is_what_we_wrote_until_the_watch_delivers_it(rt: Runtime) -> None:
    key = ("ml", "iris")
    ours = body("11", "RolledBack")
    rt.written[key] = ("10", ours)  # written onto version 10, the API server made it 11
    stale = body("10", "Progressing")
    assert rt.newest(key, stale) is ours, "the cache still holds the version we wrote onto"
    delivered = body("11", "RolledBack")
    assert rt.newest(key, delivered) is delivered
    assert key not in rt.written, "once the watch caught up, the cache is the truth again"
    assert rt.newest(key, stale) is stale  # (a cache never goes back; nothing kept)


def test_a_later_change_by_someone_else_wins_over_what_we_wrote(rt: Runtime) -> None:
    key = ("ml", "iris")
    rt.written[key] = ("10", body("11", "Progressing"))
    edited = body("12", "Progressing")  # a spec edit after our write
    assert rt.newest(key, edited) is edited


def test_wakes_reach_running_loops_and_the_users_of_a_route() -> None:
    routes = RouteKind("gateway.networking.k8s.io", "v1", "httproutes")
    other_kind = RouteKind("networking.istio.io", "v1", "virtualservices")

    async def scenario() -> None:
        wakes = Wakes()
        a, b = wakes.event(("ml", "a")), wakes.event(("ml", "b"))
        wakes.wake(("ml", "nobody"))  # no loop: nothing to do
        wakes.wake(None)
        wakes.uses_route(("ml", "a"), (routes, "shared"))
        wakes.uses_route(("ml", "b"), (routes, "shared"))
        wakes.wake_route_users(("ml", "httproutes", "shared"))
        assert a.is_set()
        assert b.is_set()
        a.clear(), b.clear()
        wakes.uses_route(("ml", "b"), (routes, "own"))  # b's spec now names another route
        wakes.wake_route_users(("ml", "httproutes", "shared"))
        assert a.is_set()
        assert not b.is_set()
        a.clear()
        assert not wakes.wake_route_users(("other", "httproutes", "shared"))  # other namespace
        assert not wakes.wake_route_users(("ml", other_kind.plural, "shared"))  # other kind
        assert wakes.wake_route_users(("ml", "httproutes", "own")), "named: ours"
        b.clear()
        assert not a.is_set()
        wakes.forget(("ml", "a"))
        wakes.wake_route_users(("ml", "httproutes", "shared"))
        wakes.wake(("ml", "a"))
        assert not a.is_set(), "a deleted ModelDeployment's loop is not woken"

    asyncio.run(scenario())


def turn(
    *,
    due: timedelta | None = None,
    invalid: bool = False,
    failed: bool = False,
    conflict: bool = False,
    unchanged: bool = False,
) -> Turn:
    status = ModelDeploymentStatus()
    result = Result(
        status,
        status,
        [],
        failed=failed,
        invalid=invalid,
        next_due=None if due is None else datetime.now(UTC) + due,
    )
    return Turn(result, written=not conflict, conflict=conflict, unchanged=unchanged)


@pytest.mark.parametrize(
    ("case", "turned", "failures", "low", "high"),
    [
        ("nothing due: the slow resync, spread", {}, 0, 270, 300),
        ("due in 20 s", {"due": timedelta(seconds=20)}, 0, 19, 20),
        ("due later than the resync: the resync", {"due": timedelta(hours=2)}, 0, 270, 300),
        ("overdue: at once", {"due": timedelta(seconds=-5)}, 0, 0, 0),
        (
            "overdue, but the decision changed nothing: not at once (no spinning)",
            {"due": timedelta(seconds=-5), "unchanged": True},
            0,
            1,
            1,
        ),
        (
            "unchanged, due later: when due",
            {"due": timedelta(seconds=20), "unchanged": True},
            0,
            19,
            20,
        ),
        ("invalid spec: a recheck (an unwatched Secret may fix it)", {"invalid": True}, 0, 30, 30),
        ("a conflict: the change is on its way; a fallback", {"conflict": True}, 0, 5, 5),
        ("first failure: 1 s", {"failed": True}, 1, 1, 1),
        ("fourth failure: 8 s", {"failed": True}, 4, 8, 8),
        ("failures back off to a minute", {"failed": True}, 12, 60, 60),
    ],
)
def test_when_the_next_reconcile_runs(
    rt: Runtime, case: str, turned: dict[str, Any], failures: int, low: float, high: float
) -> None:
    assert low <= _delay(rt, turn(**turned), failures) <= high, case


@dataclass
class Watched:
    routes_served: frozenset[str] = frozenset({"httproutes"})
    route_selector: str | None = None


@pytest.mark.parametrize(
    ("cached", "selector", "read"),
    [
        ({"spec": {"rules": []}}, None, "the cache's"),
        (None, None, "none: not found"),  # every route watched: not cached is not there
        (None, "modelrollout.io/routed", "the API server's"),  # maybe there, unlabelled
        ({"spec": {"rules": []}}, "modelrollout.io/routed", "the cache's"),
    ],
)
def test_the_named_route_comes_from_the_cache_unless_it_may_be_there_unwatched(
    cached: dict[str, Any] | None, selector: str | None, read: str
) -> None:
    indices: dict[str, Any] = {
        name: {}
        for name in ("owned_deployments", "owned_services", "owned_endpoint_slices", "owned_pools")
    }
    indices["routes_httproutes"] = {("ml", "r"): [cached]} if cached else {}
    spec = {"traffic": {"gatewayAPI": {"httpRoute": "r"}}}
    _, lookup = snapshot(("ml", "m"), spec, indices, False, Watched(route_selector=selector))
    found = "the API server's" if lookup is None else lookup("ml", "r")
    assert found == (cached if read == "the cache's" else None if read.startswith("none") else read)


def test_an_event_refused_is_logged_with_the_api_servers_message_only(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not its whole answer: headers and body are the API server's, and unbounded."""

    def refuse(*_: Any) -> None:
        refused = client.ApiException(status=403, reason="Forbidden")
        refused.headers = {"Audit-Id": "f80f14e2", "X-Kubernetes-Pf-Flowschema-Uid": "9fcc1a11"}
        refused.body = '{"message": "namespace ml is being terminated", "code": 403}'
        raise refused

    monkeypatch.setattr(loop.events, "post", refuse)
    said = [Emit("Warning", "ReconcileFailed", "pointing the Services failed")]
    result = Result(ModelDeploymentStatus(), ModelDeploymentStatus(), said, None)
    meta = {"namespace": "ml", "name": "iris"}
    with caplog.at_level(logging.WARNING, logger="modelrollout"):
        loop._post(rt, ("ml", "iris"), {"metadata": meta}, Turn(result, written=True))
    logged = [r.getMessage() for r in caplog.records if "not posted" in r.message]
    assert logged == [
        "ml/iris: Event ReconcileFailed not posted: the API server answered 403 Forbidden: "
        "namespace ml is being terminated"
    ]
