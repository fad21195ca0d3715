"""LAB-ONLY: a stand-in gateway controller that programs Envoy from the cluster.

It reads what a Gateway API implementation reads, the HTTPRoutes and the EndpointSlices
of their backend Services, and turns them into Envoy routes and clusters:

- one Envoy cluster per model revision (`<namespace>.<name>-<revision>`), holding the
  ready endpoints of that revision's pods, so Envoy's own stats count requests per
  revision;
- a backendRef's weight goes to the revisions its Service selects, split by their
  ready endpoint counts (a Service in mid-switch may select two);
- a backendRef whose Service has no ready endpoint points at an empty cluster
  (Envoy answers 503), and a rule whose weights are all 0 answers 500, as the
  Gateway API specifies;
- a `RequestMirror` filter becomes Envoy's `request_mirror_policies` with a runtime
  fraction of `percent`, to the revision clusters of the mirrored Service (Envoy's
  per-cluster counters then count the copies; their answers go nowhere);
- header matches (Exact, RegularExpression as RE2) and a method become Envoy header
  matchers, and routes are ordered by Gateway API's precedence (Envoy takes the first
  route that matches): exact paths, then longer prefixes, then a method, then more
  header matches.

Only PathPrefix and Exact path matches are supported: enough for the lab.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from lab.envoy import Envoy
from lab.kubelet import Endpoint
from lab.loop import Loop

GW = ("gateway.networking.k8s.io", "v1")
POLL_SECONDS = 0.1
SCALE = 1000  # Envoy weights are integers: keep three digits of a split


@dataclass(frozen=True)
class Applied:
    """A routing Envoy accepted: when, and each revision cluster's share of traffic (0..1)."""

    at: float  # time.time()
    shares: dict[str, float]
    mirrors: dict[str, float] = field(default_factory=dict)  # cluster -> share copied to it


Backends = dict[str, dict[str, list[int]]]  # Service -> revision cluster -> ports


NO_ENDPOINTS = ".no-endpoints"


def _no_endpoints(namespace: str, service: str) -> str:
    return f"{namespace}.{service}{NO_ENDPOINTS}"


def envoy_routes(
    namespace: str, routes: list[dict[str, Any]], backends: Backends
) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, float]]:
    """Envoy virtual hosts for the HTTPRoutes, each cluster's share of the traffic and
    each cluster's share of mirrored copies (of the traffic of the rules mirroring)."""
    matched: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []
    shares: dict[str, float] = {}
    mirrors: dict[str, float] = {}
    for route in routes:
        for rule in route["spec"].get("rules", []):
            weights = cluster_weights(namespace, rule.get("backendRefs", []), backends)
            total = sum(weights.values())
            if total:
                clusters = [{"name": n, "weight": w} for n, w in sorted(weights.items()) if w]
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
    namespace: str, refs: list[dict[str, Any]], backends: Backends
) -> dict[str, int]:
    """Each backendRef's weight, split over the revisions its Service selects."""
    weights: dict[str, int] = defaultdict(int)
    for ref in refs:
        weight = int(ref.get("weight", 1)) * SCALE
        revisions = backends.get(ref["name"], {})
        endpoints = sum(len(ports) for ports in revisions.values())
        if not endpoints:
            weights[_no_endpoints(namespace, ref["name"])] += weight
            continue
        for cluster, ports in revisions.items():
            weights[cluster] += weight * len(ports) // endpoints
    return dict(weights)


class LabGateway:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        envoy: Envoy,
        endpoints: Callable[[], list[Endpoint]],
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.namespace, self.envoy, self.endpoints = namespace, envoy, endpoints
        self.history: list[Applied] = []
        self._clusters: dict[str, list[int]] = {}  # revision clusters stay once seen (stats)
        self._applied_clusters: dict[str, list[int]] | None = None
        self._applied_routes: list[dict[str, Any]] | None = None
        self._serving: set[int] = set()
        self._lock = threading.Lock()
        self._loop = Loop("lab.gateway", POLL_SECONDS, self.sync)

    def start(self) -> None:
        self.sync()
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def drained(self, port: int) -> bool:
        """True once Envoy routes nothing to the process on `port`."""
        with self._lock:
            return port not in self._serving

    def revision_counts(self) -> dict[str, dict[str, int]]:
        """Envoy's request counters per revision cluster: total, 2xx, 5xx."""
        counters = self.envoy.counters(f"cluster.{self.namespace}.")
        with self._lock:
            names = list(self._clusters)
        return {
            name: {
                kind: counters.get(f"cluster.{name}.upstream_rq_{kind}", 0)
                for kind in ("total", "2xx", "5xx")
            }
            for name in names
        }

    def sync(self) -> None:
        # Routes first, endpoints second: the operator gives a Service traffic only once
        # its endpoints are ready, so a route read before them is never matched with
        # endpoints older than the ones the operator saw (read the other way round, a
        # header route just written met the canary's slice from before its pod was
        # ready, and tagged requests got 503 for a poll).
        routes = self._routes()
        ready = {e.uid: e for e in self.endpoints() if e.ready}
        backends = self._backends(ready)
        with self._lock:  # revision_counts() reads the names from another thread
            for cluster in {e.cluster for e in ready.values()}:
                self._clusters.setdefault(cluster, [])
            for cluster in self._clusters:
                ports = {p for service in backends.values() for p in service.get(cluster, [])}
                self._clusters[cluster] = sorted(ports)
            clusters = dict(self._clusters)
        clusters.update({_no_endpoints(self.namespace, svc): [] for svc in self._services(routes)})
        virtual_hosts, shares, mirrors = envoy_routes(self.namespace, routes, backends)
        # Make before break: endpoints are added first (a route never sends to a cluster
        # lacking them), routes second, and endpoints removed last (a route still sending
        # to a cluster keeps its endpoints until the new route is in place).
        if clusters != self._applied_clusters:
            before = self._applied_clusters or {}
            both = {
                name: sorted(set(ports) | set(before.get(name, [])))
                for name, ports in clusters.items()
            }
            with self._lock:  # a port leaves `_serving` only once Envoy dropped it
                self._serving |= {p for ports in both.values() for p in ports}
            self.envoy.apply_endpoints(both)
        if virtual_hosts != self._applied_routes:
            self.envoy.apply_routes(virtual_hosts)
            self._applied_routes = virtual_hosts
            self.history.append(Applied(time.time(), shares, mirrors))
        if clusters != self._applied_clusters:
            self.envoy.apply_endpoints(clusters)
            self._applied_clusters = clusters
            with self._lock:
                self._serving = {p for ports in clusters.values() for p in ports}

    # -- reading the cluster ---------------------------------------------------------------

    def _routes(self) -> list[dict[str, Any]]:
        listed: Any = self.custom.list_namespaced_custom_object(*GW, self.namespace, "httproutes")
        items: list[dict[str, Any]] = listed["items"]
        return sorted(
            items, key=lambda r: (r["metadata"]["creationTimestamp"], r["metadata"]["name"])
        )

    def _services(self, routes: list[dict[str, Any]]) -> set[str]:
        return {
            ref["name"]
            for route in routes
            for rule in route["spec"].get("rules", [])
            for ref in rule.get("backendRefs", [])
        }

    def _backends(self, ready: dict[str, Endpoint]) -> Backends:
        """Service -> revision cluster -> ports of its ready endpoints."""
        backends: Backends = defaultdict(lambda: defaultdict(list))
        slices: list[Any] = self.discovery.list_namespaced_endpoint_slice(self.namespace).items
        for piece in slices:
            service = (piece.metadata.labels or {}).get("kubernetes.io/service-name")
            for ep in piece.endpoints or []:
                ref = ep.target_ref
                if service and ep.conditions and ep.conditions.ready and ref and ref.uid in ready:
                    endpoint = ready[ref.uid]
                    backends[service][endpoint.cluster].append(endpoint.port)
        return backends
