"""The lab gateway's translation of HTTPRoutes into Envoy routes (lab-only, but it decides
what the lab's figures mean, so it is tested like the operator's own logic)."""

from __future__ import annotations

from typing import Any

from lab.gateway import SCALE, cluster_weights, envoy_routes

NS = "ml"
STABLE, CANARY = "ml.iris-aaa", "ml.iris-bbb"


def route(*refs: tuple[str, int], matches: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": [{"name": n, "port": 80, "weight": w} for n, w in refs]}
    if matches is not None:
        rule["matches"] = matches
    return {"metadata": {"name": "iris"}, "spec": {"rules": [rule]}}


def test_weights_follow_the_route() -> None:
    backends = {"iris-stable": {STABLE: [1, 2]}, "iris-canary": {CANARY: [3]}}
    hosts, shares = envoy_routes(NS, [route(("iris-stable", 95), ("iris-canary", 5))], backends)
    [host] = hosts
    [envoy_route] = host["routes"]
    assert envoy_route["match"] == {"prefix": "/"}
    clusters = envoy_route["route"]["weighted_clusters"]["clusters"]
    assert clusters == [
        {"name": STABLE, "weight": 95 * SCALE},
        {"name": CANARY, "weight": 5 * SCALE},
    ]
    assert shares == {STABLE: 0.95, CANARY: 0.05}


def test_a_zero_weight_backend_is_left_out_of_envoy_but_reported_at_zero() -> None:
    backends = {"iris-stable": {STABLE: [1]}, "iris-canary": {CANARY: [3]}}
    hosts, shares = envoy_routes(NS, [route(("iris-stable", 100), ("iris-canary", 0))], backends)
    clusters = hosts[0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert [c["name"] for c in clusters] == [STABLE]
    assert shares == {STABLE: 1.0, CANARY: 0.0}


def test_a_service_selecting_two_revisions_splits_by_ready_endpoints() -> None:
    backends = {"iris-stable": {STABLE: [1], CANARY: [2, 3, 4]}}
    assert cluster_weights(NS, [{"name": "iris-stable", "weight": 100}], backends) == {
        STABLE: 25 * SCALE,
        CANARY: 75 * SCALE,
    }


def test_two_services_on_one_revision_merge_into_one_cluster() -> None:
    backends = {"iris-stable": {CANARY: [2]}, "iris-canary": {CANARY: [2]}}
    weights = cluster_weights(
        NS, [{"name": "iris-stable", "weight": 0}, {"name": "iris-canary", "weight": 100}], backends
    )
    assert weights == {CANARY: 100 * SCALE}


def test_a_service_without_ready_endpoints_gets_an_empty_cluster() -> None:
    weights = cluster_weights(NS, [{"name": "iris-canary", "weight": 10}], {})
    assert weights == {"ml.iris-canary.no-endpoints": 10 * SCALE}


def test_default_weight_is_one() -> None:
    assert cluster_weights(NS, [{"name": "s"}], {"s": {STABLE: [1]}}) == {STABLE: SCALE}


def test_all_weights_zero_answers_500_as_the_gateway_api_says() -> None:
    backends = {"iris-stable": {STABLE: [1]}}
    hosts, shares = envoy_routes(NS, [route(("iris-stable", 0))], backends)
    assert hosts[0]["routes"][0] == {"match": {"prefix": "/"}, "direct_response": {"status": 500}}
    assert shares == {}


def test_path_matches() -> None:
    matches = [
        {"path": {"type": "Exact", "value": "/predict"}},
        {"path": {"type": "PathPrefix", "value": "/v1"}},
    ]
    hosts, _ = envoy_routes(NS, [route(("s", 1), matches=matches)], {"s": {STABLE: [1]}})
    assert [r["match"] for r in hosts[0]["routes"]] == [{"path": "/predict"}, {"prefix": "/v1"}]


def test_no_routes_no_virtual_hosts() -> None:
    assert envoy_routes(NS, [], {}) == ([], {})
