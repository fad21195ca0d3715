"""The HTTP face of the model server (aiohttp).

POST /predict   {"instances": [[5.1, 3.5, 1.4, 0.2], ...]} -> {"predictions": [...]}
GET  /healthz   liveness: the process answers
GET  /ready     readiness: the model is loaded, the slow start (if any) is over, and
                the server is not shutting down
GET  /metrics   Prometheus text format
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from model_server.faults import Faults
from model_server.model import BadInput, Model

# Latency buckets fine enough to judge a p99 threshold of tens to hundreds of ms.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Identity:
    namespace: str
    model: str
    version: str
    revision: str = ""


@dataclass
class Metrics:
    identity: Identity
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["namespace", "model", "version"]
        self.requests = Counter(
            "model_requests",
            "Prediction requests answered, by HTTP status code.",
            [*labels, "code"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "model_requests_in_flight",
            "Prediction requests being answered now.",
            labels,
            registry=self.registry,
        )
        self.duration = Histogram(
            "model_request_duration_seconds",
            "Time to answer a prediction request.",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, code: int, seconds: float) -> None:
        i = self.identity
        self.requests.labels(i.namespace, i.model, i.version, str(code)).inc()
        self.duration.labels(i.namespace, i.model, i.version).observe(seconds)


class InFlight:
    """Prediction requests being answered, so a shutdown can wait until there are none."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


READY_AT = web.AppKey("ready_at", float)
DRAINING = web.AppKey("draining", asyncio.Event)
IN_FLIGHT = web.AppKey("in_flight", InFlight)


def create_app(
    model: Model,
    identity: Identity,
    faults: Faults,
    *,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    metrics = Metrics(identity)
    chance = rng or random.Random()  # noqa: S311  (fault injection, not security)
    headers = {"X-Model-Version": identity.version, "X-Model-Revision": identity.revision}

    async def predict(request: web.Request) -> web.Response:
        started = clock()
        i = identity
        request.app[IN_FLIGHT].enter()
        try:
            with metrics.in_flight.labels(i.namespace, i.model, i.version).track_inprogress():
                status, body = await _answer(request)
        finally:
            request.app[IN_FLIGHT].leave()
        metrics.observe(status, clock() - started)
        return web.json_response(body, status=status, headers=headers)

    async def _answer(request: web.Request) -> tuple[int, dict[str, Any]]:
        if faults.latency_seconds:
            await asyncio.sleep(faults.latency_seconds)
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, {"error": "the body must be JSON"}
        if not isinstance(payload, dict) or "instances" not in payload:
            return 400, {"error": 'the body must be {"instances": [[...], ...]}'}
        try:
            predictions = model.predict(payload["instances"])
        except BadInput as exc:
            return 400, {"error": str(exc)}
        if faults.error_rate and chance.random() < faults.error_rate:
            return 500, {"error": "injected fault (MODEL_FAULT_ERROR_RATE)"}
        return 200, {
            "model": identity.model,
            "version": identity.version,
            "predictions": predictions,
        }

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(request: web.Request) -> web.Response:
        if request.app[DRAINING].is_set():
            return web.json_response({"status": "shutting down"}, status=503)
        if clock() < request.app[READY_AT]:
            return web.json_response({"status": "loading"}, status=503)
        return web.json_response({"status": "ready", "version": identity.version})

    async def metrics_page(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app = web.Application()
    app[READY_AT] = clock() + faults.slow_start_seconds
    app[DRAINING] = asyncio.Event()
    app[IN_FLIGHT] = InFlight()
    app.router.add_post("/predict", predict)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    return app
