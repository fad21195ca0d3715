"""LAB-ONLY: the stand-in gateway's translation of HTTPRoutes into Envoy routes (pure):
what lab.gateway's docstring describes, from the routes, the Services' ready
endpoints by revision and the InferencePools."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lab import pools as inference

SCALE = 1000  # Envoy weights are integers: keep three digits of a split

Backends = dict[str, dict[str, list[int]]]  # Service -> revision cluster -> ports


NO_ENDPOINTS = ".no-endpoints"


def no_endpoints(namespace: str, service: str) -> str:
    return f"{namespace}.{service}{NO_ENDPOINTS}"


def envoy_routes(
    namespace: str,
    routes: list[dict[str, Any]],
    backends: Backends,
    pools: dict[str, inference.Pool] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, float]]:
    """Envoy virtual hosts for the HTTPRoutes, each cluster's share of the traffic and
    each cluster's share of mirrored copies (of the traffic of the rules mirroring)."""
    matched: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []
    shares: dict[str, float] = {}
    mirrors: dict[str, float] = {}
    by_cluster = {pool.cluster: pool for pool in (pools or {}).values()}
    for route in routes:
        for rule in route["spec"].get("rules", []):
            weights = cluster_weights(namespace, rule.get("backendRefs", []), backends, pools)
            total = sum(weights.values())
            if total:
                clusters = [
                    {"name": n, "weight": w}
                    | (
                        {"typed_per_filter_config": inference.weighted_cluster_config(pool)}
                        if (pool := by_cluster.get(n))
                        else {}
                    )
                    for n, w in sorted(weights.items())
                    if w
                ]
                action: dict[str, Any] = {"route": {"weighted_clusters": {"clusters": clusters}}}
                policies = _mirror_policies(rule, backends)
                if policies:
                    action["route"]["request_mirror_policies"] = policies
                for policy in policies:
                    share = policy["runtime_fraction"]["default_value"]["numerator"] / 10_000
                    mirrors[policy["cluster"]] = mirrors.get(policy["cluster"], 0.0) + share
                for name, weight in weights.items():
                    shares[name] = shares.get(name, 0.0) + weight / total
            else:
                action = {"direct_response": {"status": 500}}
            for match in rule.get("matches") or [{}]:
                matched.append(_envoy_route(match, action))
    matched.sort(key=lambda pair: pair[0])  # stable: ties keep the routes' order
    routes_out = [route for _, route in matched]
    hosts = [{"name": "lab", "domains": ["*"], "routes": routes_out}] if routes_out else []
    return hosts, shares, mirrors


def _envoy_route(
    match: dict[str, Any], action: dict[str, Any]
) -> tuple[tuple[int, int, int, int], dict[str, Any]]:
    """One Gateway API match as an Envoy route, with its precedence (lower sorts first)."""
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    exact = path.get("type") == "Exact"
    value = path.get("value", "/")
    envoy_match: dict[str, Any] = {"path" if exact else "prefix": value}
    headers = [
        {
            "name": h["name"],
            "string_match": (
                {"safe_regex": {"regex": h["value"]}}
                if h.get("type") == "RegularExpression"
                else {"exact": h["value"]}
            ),
        }
        for h in match.get("headers") or []
    ]
    if match.get("method"):
        headers.append({"name": ":method", "string_match": {"exact": match["method"]}})
    if headers:
        envoy_match["headers"] = headers
    precedence = (
        0 if exact else 1,
        -len(value),
        0 if match.get("method") else 1,
        -len(match.get("headers") or []),
    )
    return precedence, {"match": envoy_match, **action}


def _mirror_policies(rule: dict[str, Any], backends: Backends) -> list[dict[str, Any]]:
    """A rule's RequestMirror filters, to the revision clusters of the mirrored Service
    (split by their ready endpoints, as backendRefs are); none while it has no endpoint."""
    policies = []
    for entry in rule.get("filters") or []:
        if entry.get("type") != "RequestMirror":
            continue
        mirror = entry["requestMirror"]
        percent = mirror.get("percent", 100)
        revisions = backends.get(mirror["backendRef"]["name"], {})
        endpoints = sum(len(ports) for ports in revisions.values())
        for cluster, ports in sorted(revisions.items()):
            numerator = percent * 100 * len(ports) // endpoints
            policies.append(
                {
                    "cluster": cluster,
                    "runtime_fraction": {
                        "default_value": {"numerator": numerator, "denominator": "TEN_THOUSAND"}
                    },
                }
            )
    return policies


def cluster_weights(
    namespace: str,
    refs: list[dict[str, Any]],
    backends: Backends,
    pools: dict[str, inference.Pool] | None = None,
) -> dict[str, int]:
    """Each backendRef's weight, split over the revisions its Service selects (a pool's
    to its cluster: its picker chooses the pod)."""
    weights: dict[str, int] = defaultdict(int)
    for ref in refs:
        weight = int(ref.get("weight", 1)) * SCALE
        if inference.is_pool(ref):
            pool = (pools or {}).get(ref["name"])
            if pool is not None and pool.selects:
                weights[pool.cluster] += weight
            else:
                weights[no_endpoints(namespace, ref["name"])] += weight
            continue
        revisions = backends.get(ref["name"], {})
        endpoints = sum(len(ports) for ports in revisions.values())
        if not endpoints:
            weights[no_endpoints(namespace, ref["name"])] += weight
            continue
        for cluster, ports in revisions.items():
            weights[cluster] += weight * len(ports) // endpoints
    return dict(weights)
