"""The HTTP face of the model server (aiohttp).

POST /predict   {"instances": [[5.1, 3.5, 1.4, 0.2], ...]} -> {"predictions": [...]}
GET  /healthz   liveness: the process answers
GET  /ready     readiness: the model is loaded, the slow start (if any) is over, and
                the server is not shutting down
GET  /metrics   Prometheus text format: requests by code, latency, predictions by class,
                the predicted class's probability, and input and output validation
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
from model_server.model import BadInput, Model, Prediction

# Latency buckets fine enough to judge a p99 threshold of tens to hundreds of ms.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The predicted class's probability: how sure the model is.
SCORE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
# Status codes the server answers; their counters start at zero (see Metrics).
CODES = (200, 400, 500)


@dataclass(frozen=True)
class Identity:
    namespace: str
    model: str
    version: str
    revision: str = ""


@dataclass
class Metrics:
    """Every series labelled namespace, model and version, and every counter exported
    at zero for the codes and classes the server knows: a series that first appears
    with its first increment is invisible to increase() for that step."""

    identity: Identity
    classes: list[str]
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["namespace", "model", "version"]
        mine = (self.identity.namespace, self.identity.model, self.identity.version)
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
        self.predictions = Counter(
            "model_predictions",
            "Predictions answered, by predicted class.",
            [*labels, "class"],
            registry=self.registry,
        )
        self.scores = Histogram(
            "model_prediction_score",
            "The predicted class's probability.",
            labels,
            buckets=SCORE_BUCKETS,
            registry=self.registry,
        )
        self.input_invalid = Counter(
            "model_input_invalid",
            "Requests refused by input validation (malformed or out-of-range features).",
            labels,
            registry=self.registry,
        )
        self.clicks = Counter(
            "model_clicks",
            "Answers a user clicked: a request saying which class it expected "
            "(X-Expected-Label, the lab's stand-in for a user) and answered with it.",
            labels,
            registry=self.registry,
        )
        self.output_invalid = Counter(
            "model_output_invalid",
            "Predictions refused by output validation (answered 500, never sent).",
            labels,
            registry=self.registry,
        )
        for code in CODES:
            self.requests.labels(*mine, str(code))
        for name in self.classes:
            self.predictions.labels(*mine, name)
        for metric in (self.in_flight, self.duration, self.scores):
            metric.labels(*mine)
        self.input_invalid.labels(*mine)
        self.output_invalid.labels(*mine)
        self.clicks.labels(*mine)
        self.mine = mine

    def observe(self, code: int, seconds: float) -> None:
        self.requests.labels(*self.mine, str(code)).inc()
        self.duration.labels(*self.mine).observe(seconds)

    def predicted(self, predictions: list[Prediction]) -> None:
        for p in predictions:
            self.predictions.labels(*self.mine, p["label"]).inc()
            self.scores.labels(*self.mine).observe(max(p["probabilities"].values()))


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
    metrics = Metrics(identity, model.classes)
    chance = rng or random.Random()  # noqa: S311  (fault injection, not security)
    headers = {"X-Model-Version": identity.version, "X-Model-Revision": identity.revision}

    async def predict(request: web.Request) -> web.Response:
        started = clock()
        request.app[IN_FLIGHT].enter()
        try:
            with metrics.in_flight.labels(*metrics.mine).track_inprogress():
                status, body = await _answer(request)
        finally:
            request.app[IN_FLIGHT].leave()
        metrics.observe(status, clock() - started)
        return web.json_response(body, status=status, headers=headers)

    async def _answer(request: web.Request) -> tuple[int, dict[str, Any]]:
        if faults.latency_seconds:
            await asyncio.sleep(faults.delay(chance))
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, {"error": "the body must be JSON"}
        if not isinstance(payload, dict) or "instances" not in payload:
            return 400, {"error": 'the body must be {"instances": [[...], ...]}'}
        try:
            predictions = model.predict(payload["instances"])
        except BadInput as exc:
            metrics.input_invalid.labels(*metrics.mine).inc()
            return 400, {"error": str(exc)}
        predictions = [faults.distort(p, model.classes, chance) for p in predictions]
        invalid = sum(not model.valid(p) for p in predictions)
        if invalid:
            metrics.output_invalid.labels(*metrics.mine).inc(invalid)
            return 500, {"error": "the model's output failed validation: not sent"}
        if faults.error_rate and chance.random() < faults.error_rate:
            return 500, {"error": "injected fault (MODEL_FAULT_ERROR_RATE)"}
        metrics.predicted(predictions)
        expected = request.headers.get("X-Expected-Label")
        if expected is not None and predictions[0]["label"] == expected:
            metrics.clicks.labels(*metrics.mine).inc()
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
