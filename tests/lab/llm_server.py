"""LAB-ONLY: a stand-in for vLLM's OpenAI server: POST /v1/completions, streamed (SSE)
or not, with a configurable time to first token, time between tokens and faults, and
vLLM's own metric names (labelled `model_name` only, as vLLM does: the lab's Prometheus
adds `namespace`, `model` and `version` by relabeling, as a PodMonitor would).

Why a stand-in: llm-d-inference-sim, the upstream simulator, is not served by the Go
module proxy here, so it cannot be built from its module; this one speaks the same API
and exports the same series for what the judge reads.

Environment (the pod template's env; the operator adds MODEL_NAME and MODEL_VERSION):
HOST, PORT                       where to listen (default 127.0.0.1:8000)
LLM_TTFT_SECONDS                 median time to first token (default 0.08)
LLM_ITL_SECONDS                  median time between tokens (default 0.02)
LLM_JITTER                       each delay is the median times a log-normal factor of
                                 this sigma (default 0.25)
LLM_START_SECONDS                how long loading takes: /health answers 503 until then
LLM_MAX_RUNNING                  streams generated at once; more wait (default 32)
LLM_FAULT_TTFT_FACTOR            first tokens this many times slower (default 1)
LLM_FAULT_ITL_FACTOR             every token this many times slower (default 1)
LLM_FAULT_SLOW_TOKEN_SHARE       this share of tokens LLM_FAULT_SLOW_TOKEN_FACTOR slower
LLM_FAULT_ERROR_SHARE            this share of requests answered 500 (before streaming)
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
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

# vLLM's buckets (vllm/v1/metrics/loggers.py), so the judge sees the boundaries it would.
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)
MAX_TOKENS = 64
HANDLER = "/v1/completions"
SHUTDOWN_SECONDS = 10.0


@dataclass(frozen=True)
class Behaviour:
    ttft: float = 0.08
    itl: float = 0.02
    jitter: float = 0.25
    start: float = 0.0
    max_running: int = 32
    ttft_factor: float = 1.0
    itl_factor: float = 1.0
    slow_token_share: float = 0.0
    slow_token_factor: float = 2.0
    error_share: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Behaviour:
        def number(name: str, default: float) -> float:
            value = float(env.get(name, default))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value}")
            return value

        return cls(
            ttft=number("LLM_TTFT_SECONDS", cls.ttft),
            itl=number("LLM_ITL_SECONDS", cls.itl),
            jitter=number("LLM_JITTER", cls.jitter),
            start=number("LLM_START_SECONDS", cls.start),
            max_running=max(int(number("LLM_MAX_RUNNING", cls.max_running)), 1),
            ttft_factor=number("LLM_FAULT_TTFT_FACTOR", cls.ttft_factor),
            itl_factor=number("LLM_FAULT_ITL_FACTOR", cls.itl_factor),
            slow_token_share=number("LLM_FAULT_SLOW_TOKEN_SHARE", cls.slow_token_share),
            slow_token_factor=number("LLM_FAULT_SLOW_TOKEN_FACTOR", cls.slow_token_factor),
            error_share=number("LLM_FAULT_ERROR_SHARE", cls.error_share),
        )

    def first_token(self, rng: random.Random) -> float:
        return self.ttft * self.ttft_factor * rng.lognormvariate(0.0, self.jitter)

    def next_token(self, rng: random.Random) -> float:
        slow = self.slow_token_factor if rng.random() < self.slow_token_share else 1.0
        return self.itl * self.itl_factor * slow * rng.lognormvariate(0.0, self.jitter)


class Metrics:
    """vLLM's series, by `model_name`; every counter exported at zero."""

    def __init__(self, served: str, max_running: int) -> None:
        self.registry = CollectorRegistry()
        self.max_running = max_running
        by = ["model_name"]

        def histogram(name: str, text: str, buckets: tuple[float, ...]) -> Any:
            made = Histogram(name, text, by, buckets=buckets, registry=self.registry)
            return made.labels(served)

        def gauge(name: str, text: str) -> Any:
            return Gauge(name, text, by, registry=self.registry).labels(served)

        self.ttft = histogram(
            "vllm:time_to_first_token_seconds", "Time to first token.", TTFT_BUCKETS
        )
        self.itl = histogram(
            "vllm:inter_token_latency_seconds", "Time between tokens.", ITL_BUCKETS
        )
        self.e2e = histogram("vllm:e2e_request_latency_seconds", "Request latency.", E2E_BUCKETS)
        self.running = gauge("vllm:num_requests_running", "Requests generating now.")
        self.waiting = gauge("vllm:num_requests_waiting", "Requests waiting to start.")
        self.kv_cache = gauge("vllm:kv_cache_usage_perc", "Share of KV-cache blocks in use.")
        self.tokens = Counter(
            "vllm:generation_tokens", "Tokens generated.", by, registry=self.registry
        ).labels(served)
        self.success = Counter(
            "vllm:request_success",
            "Requests finished.",
            [*by, "finished_reason"],
            registry=self.registry,
        )
        self.http = Counter(
            "http_requests",
            "HTTP requests (prometheus-fastapi-instrumentator's).",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        for reason in ("length", "stop"):
            self.success.labels(served, reason)
        for status in ("2xx", "4xx", "5xx"):
            self.http.labels(HANDLER, "POST", status)
        self.served = served

    def set_load(self, running: int, waiting: int) -> None:
        self.running.set(running)
        self.waiting.set(waiting)
        self.kv_cache.set(min(running / self.max_running, 1.0))


class Server:
    def __init__(self, behaviour: Behaviour, version: str, served: str) -> None:
        self.behaviour, self.version = behaviour, version
        self.metrics = Metrics(served, behaviour.max_running)
        self.slots = asyncio.Semaphore(behaviour.max_running)
        self.rng = random.Random()
        self.loaded_at = time.monotonic() + behaviour.start
        self.draining = False
        self.running = self.waiting = 0
        self.in_flight = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(HANDLER, self.complete)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.scrape)
        return app

    async def health(self, _: web.Request) -> web.Response:
        ready = not self.draining and time.monotonic() >= self.loaded_at
        return web.Response(status=200 if ready else 503)

    async def scrape(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def complete(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            return await self._complete(request)
        finally:
            self.in_flight -= 1

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            body = await request.json()
            tokens = min(max(int(body.get("max_tokens", 16)), 1), MAX_TOKENS)
            stream = bool(body.get("stream", False))
        except (ValueError, TypeError, AttributeError):
            self.metrics.http.labels(HANDLER, "POST", "4xx").inc()
            return web.json_response({"error": "invalid request"}, status=400)
        if self.rng.random() < self.behaviour.error_share:
            self.metrics.http.labels(HANDLER, "POST", "5xx").inc()
            return web.json_response({"error": "engine failure"}, status=500)
        self.metrics.http.labels(HANDLER, "POST", "2xx").inc()
        headers = {"X-Model-Version": self.version}
        self.waiting += 1
        self.metrics.set_load(self.running, self.waiting)
        async with self.slots:
            self.waiting -= 1
            self.running += 1
            self.metrics.set_load(self.running, self.waiting)
            try:
                if stream:
                    return await self._stream(request, tokens, started, headers)
                text = "".join([piece async for piece in self._generate(tokens, started)])
                return web.json_response(self._chunk(text, "length"), headers=headers)
            finally:
                self.running -= 1
                self.metrics.set_load(self.running, self.waiting)
                self.metrics.e2e.observe(time.monotonic() - started)

    async def _stream(
        self, request: web.Request, tokens: int, started: float, headers: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        async for piece in self._generate(tokens, started):
            await response.write(f"data: {json.dumps(self._chunk(piece, None))}\n\n".encode())
        await response.write(f"data: {json.dumps(self._chunk('', 'length'))}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _generate(self, tokens: int, started: float) -> Any:
        """Tokens as they come, each delay observed as vLLM observes it."""
        await asyncio.sleep(self.behaviour.first_token(self.rng))
        self.metrics.ttft.observe(time.monotonic() - started)
        last = time.monotonic()
        for n in range(tokens):
            if n:
                await asyncio.sleep(self.behaviour.next_token(self.rng))
                now = time.monotonic()
                self.metrics.itl.observe(now - last)
                last = now
            self.metrics.tokens.inc()
            yield f" tok{n}"
        self.metrics.success.labels(self.metrics.served, "length").inc()

    def _chunk(self, text: str, finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.metrics.served,
            "choices": [choice],
        }


async def serve(server: Server, host: str, port: int) -> None:
    """Serve until SIGTERM, then drain: /health fails, no new connections, the streams
    in flight finish (at most SHUTDOWN_SECONDS)."""
    runner = web.AppRunner(server.app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.draining = True
    await site.stop()
    deadline = time.monotonic() + SHUTDOWN_SECONDS
    while server.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await runner.cleanup()


def main() -> int:
    env = os.environ
    behaviour = Behaviour.from_env(env)
    version, served = env.get("MODEL_VERSION", "0"), env.get("MODEL_NAME", "llm")
    host, port = env.get("HOST", "127.0.0.1"), int(env.get("PORT", "8000"))
    asyncio.run(serve(Server(behaviour, version, served), host, port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
