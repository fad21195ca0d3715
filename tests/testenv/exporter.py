"""A test exporter of model-server metrics whose traffic the test controls, per version.

It serves the metric convention the built-in analysis templates query
(model_requests_total{namespace, model, version, code} and the histogram
model_request_duration_seconds{namespace, model, version}) and advances them in
real time from a per-version traffic profile.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from testenv.ports import free_port


@dataclass(frozen=True)
class Traffic:
    rps: float = 50.0
    error_ratio: float = 0.0
    latency_seconds: float = 0.02


class ModelExporter:
    TICK = 0.1

    def __init__(self, namespace: str, model: str) -> None:
        self.namespace, self.model = namespace, model
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "model_requests",
            "requests served",
            ["namespace", "model", "version", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "model_request_duration_seconds",
            "request latency",
            ["namespace", "model", "version"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.profiles: dict[str, Traffic] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._carry: dict[str, float] = {}
        self.port = free_port()
        self._server, self._server_thread = start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, version: str, traffic: Traffic) -> None:
        with self._lock:
            self.profiles[version] = traffic

    def _run(self) -> None:
        rng = random.Random(7)
        while not self._stop.wait(self.TICK):
            with self._lock:
                profiles = dict(self.profiles)
            for version, traffic in profiles.items():
                due = traffic.rps * self.TICK + self._carry.get(version, 0.0)
                count = int(due)
                self._carry[version] = due - count
                labels = (self.namespace, self.model, version)
                for _ in range(count):
                    code = "500" if rng.random() < traffic.error_ratio else "200"
                    self.requests.labels(*labels, code).inc()
                    self.latency.labels(*labels).observe(traffic.latency_seconds)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.shutdown()
        self._server_thread.join()
