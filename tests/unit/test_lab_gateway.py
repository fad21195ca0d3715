"""The lab gateway's translation of HTTPRoutes into Envoy routes (lab-only, but it decides
what the lab's figures mean, so it is tested like the operator's own logic)."""

from __future__ import annotations

from typing import Any

from lab.envoy_routes import SCALE, cluster_weights, envoy_routes
from lab.pools import EXT_PROC, GROUP, KIND, NO_PICKER, Pool

NS = "ml"
STABLE, CANARY = "ml.iris-aaa", "ml.iris-bbb"


def route(*refs: tuple[str, int], matches: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": [{"name": n, "port": 80, "weight": w} for n, w in refs]}
    if matches is not None:
        rule["matches"] = matches
    return {"metadata": {"name": "iris"}, "spec": {"rules": [rule]}}


def test_weights_follow_the_route() -> None:
    backends = {"iris-stable": {STABLE: [1, 2]}, "iris-canary": {CANARY: [3]}}
    hosts, shares, _ = envoy_routes(NS, [route(("iris-stable", 95), ("iris-canary", 5))], backends)
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
    hosts, shares, _ = envoy_routes(NS, [route(("iris-stable", 100), ("iris-canary", 0))], backends)
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
    hosts, shares, _ = envoy_routes(NS, [route(("iris-stable", 0))], backends)
    assert hosts[0]["routes"][0] == {"match": {"prefix": "/"}, "direct_response": {"status": 500}}
    assert shares == {}


def test_path_matches() -> None:
    matches = [
        {"path": {"type": "Exact", "value": "/predict"}},
        {"path": {"type": "PathPrefix", "value": "/v1"}},
    ]
    hosts, _, _ = envoy_routes(NS, [route(("s", 1), matches=matches)], {"s": {STABLE: [1]}})
    assert [r["match"] for r in hosts[0]["routes"]] == [{"path": "/predict"}, {"prefix": "/v1"}]


def test_no_routes_no_virtual_hosts() -> None:
    assert envoy_routes(NS, [], {}) == ([], {}, {})


def test_a_request_mirror_filter_becomes_a_mirror_policy_per_revision_cluster() -> None:
    backends = {"iris-stable": {STABLE: [1]}, "iris-canary": {CANARY: [2]}}
    user = route(("iris-stable", 100), ("iris-canary", 0))
    user["spec"]["rules"][0]["filters"] = [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "iris-canary", "port": 80}, "percent": 40},
        }
    ]
    hosts, shares, mirrors = envoy_routes(NS, [user], backends)
    action = hosts[0]["routes"][0]["route"]
    assert action["request_mirror_policies"] == [
        {
            "cluster": CANARY,
            "runtime_fraction": {
                "default_value": {"numerator": 4000, "denominator": "TEN_THOUSAND"}
            },
        }
    ]
    assert shares == {STABLE: 1.0, CANARY: 0.0}, "users are answered by stable alone"
    assert mirrors == {CANARY: 0.4}
    # A mirrored Service without ready endpoints is not mirrored to.
    hosts, _, mirrors = envoy_routes(NS, [user], {"iris-stable": {STABLE: [1]}})
    assert "request_mirror_policies" not in hosts[0]["routes"][0]["route"]
    assert mirrors == {}


def test_header_matches_come_first_whatever_the_order_of_rules() -> None:
    backends = {"iris-stable": {STABLE: [1]}, "iris-canary": {CANARY: [2]}}
    user = route(("iris-stable", 100), ("iris-canary", 0))
    header_rule = {
        "matches": [
            {
                "path": {"type": "PathPrefix", "value": "/"},
                "headers": [
                    {"name": "X-Canary", "type": "Exact", "value": "true"},
                    {"name": "Cookie", "type": "RegularExpression", "value": "^arm=b$"},
                ],
            }
        ],
        "backendRefs": [{"name": "iris-canary", "port": 80}],
    }
    user["spec"]["rules"].append(header_rule)
    hosts, _, _ = envoy_routes(NS, [user], backends)
    first, second = hosts[0]["routes"]
    assert first["match"] == {
        "prefix": "/",
        "headers": [
            {"name": "X-Canary", "string_match": {"exact": "true"}},
            {"name": "Cookie", "string_match": {"safe_regex": {"regex": "^arm=b$"}}},
        ],
    }
    assert first["route"]["weighted_clusters"]["clusters"] == [{"name": CANARY, "weight": SCALE}]
    assert second["match"] == {"prefix": "/"}


def test_precedence_exact_then_longer_prefix_then_method() -> None:
    matches = [
        {"path": {"type": "PathPrefix", "value": "/"}},
        {"path": {"type": "PathPrefix", "value": "/v1"}, "method": "POST"},
        {"path": {"type": "PathPrefix", "value": "/v1"}},
        {"path": {"type": "Exact", "value": "/"}},
    ]
    hosts, _, _ = envoy_routes(NS, [route(("s", 1), matches=matches)], {"s": {STABLE: [1]}})
    assert [r["match"] for r in hosts[0]["routes"]] == [
        {"path": "/"},
        {"prefix": "/v1", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]},
        {"prefix": "/v1"},
        {"prefix": "/"},
    ]


READY = {7: "10.250.0.7:8000", 9: "10.250.0.9:8000"}


def test_pools_are_weighed_each_with_its_picker_called_through_ext_proc() -> None:
    """A route split between two pools: each weighted cluster turns the picker filter
    on with its own pool's picker (and failure mode); a pool that selects no ready pod
    answers as a Service without endpoints does."""
    pools = {
        "chat-stable": Pool("ml.chat-stable.pool", "lab.epp.ml.s-epp", False, READY, True),
        "chat-canary": Pool("ml.chat-canary.pool", None, True, READY, True),
    }
    refs = [
        {"group": GROUP, "kind": KIND, "name": "chat-stable", "weight": 90},
        {"group": GROUP, "kind": KIND, "name": "chat-canary", "weight": 10},
    ]
    routes = [{"metadata": {"name": "chat"}, "spec": {"rules": [{"backendRefs": refs}]}}]
    hosts, shares, _ = envoy_routes(NS, routes, {}, pools)
    clusters = hosts[0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in clusters] == [
        ("ml.chat-canary.pool", 10 * SCALE),
        ("ml.chat-stable.pool", 90 * SCALE),
    ]
    per_cluster = [c["typed_per_filter_config"][EXT_PROC]["config"]["overrides"] for c in clusters]
    assert per_cluster[1]["grpc_service"]["envoy_grpc"]["cluster_name"] == "lab.epp.ml.s-epp"
    assert per_cluster[1]["failure_mode_allow"] is False
    assert per_cluster[0]["grpc_service"]["envoy_grpc"]["cluster_name"] == NO_PICKER
    assert per_cluster[0]["failure_mode_allow"] is True
    assert shares == {"ml.chat-stable.pool": 0.9, "ml.chat-canary.pool": 0.1}
    empty = {**pools, "chat-canary": Pool("ml.chat-canary.pool", None, True, READY, False)}
    assert cluster_weights(NS, refs, {}, empty) == {
        "ml.chat-stable.pool": 90 * SCALE,
        "ml.chat-canary.no-endpoints": 10 * SCALE,
    }
    # A Service of the same name is not the pool.
    assert cluster_weights(NS, [{"name": "chat-stable", "weight": 1}], {}, pools) == {
        "ml.chat-stable.no-endpoints": SCALE
    }
