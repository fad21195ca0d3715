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
  header matches;
- a backendRef of kind InferencePool goes to the pool's cluster, its picker called
  through ext_proc (lab.pools).
The translation is lab.envoy_routes (pure).

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

from lab import pools as inference
from lab.envoy import Envoy
from lab.envoy_routes import Backends, envoy_routes, no_endpoints
from lab.kubelet import Endpoint
from lab.loop import Loop

GW = ("gateway.networking.k8s.io", "v1")
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Applied:
    """A routing Envoy accepted: when, and each revision cluster's share of traffic (0..1)."""

    at: float  # time.time()
    shares: dict[str, float]
    mirrors: dict[str, float] = field(default_factory=dict)  # cluster -> share copied to it


class LabGateway:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        envoy: Envoy,
        endpoints: Callable[[], list[Endpoint]],
        pickers: dict[str, int] | None = None,
    ) -> None:
        """`pickers`: the lab's endpoint pickers (their Service name -> gRPC port);
        without them, InferencePools are not read."""
        self.pickers = pickers
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
        pools = (
            inference.read_pools(self.custom, self.namespace, list(ready.values()), self.pickers)
            if self.pickers is not None
            else {}
        )
        with self._lock:  # revision_counts() reads the names from another thread
            for cluster in {e.cluster for e in ready.values()}:
                self._clusters.setdefault(cluster, [])
            for cluster in self._clusters:
                ports = {p for service in backends.values() for p in service.get(cluster, [])}
                self._clusters[cluster] = sorted(ports)
            clusters = dict(self._clusters)
        clusters.update({no_endpoints(self.namespace, svc): [] for svc in self._services(routes)})
        clusters.update({pool.cluster: sorted(pool.endpoints) for pool in pools.values()})
        labels = {
            pool.cluster: {
                port: {inference.DESTINATION: key} for port, key in pool.endpoints.items()
            }
            for pool in pools.values()
        }
        virtual_hosts, shares, mirrors = envoy_routes(self.namespace, routes, backends, pools)
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
            self.envoy.apply_endpoints(both, labels)
        if virtual_hosts != self._applied_routes:
            self.envoy.apply_routes(virtual_hosts)
            self._applied_routes = virtual_hosts
            self.history.append(Applied(time.time(), shares, mirrors))
        if clusters != self._applied_clusters:
            self.envoy.apply_endpoints(clusters, labels)
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
