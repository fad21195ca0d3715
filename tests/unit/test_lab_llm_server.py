"""The lab's stand-in vLLM server: OpenAI's streamed completions, vLLM's metric names
(labelled by model_name only, as vLLM does), and its delays and faults."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from lab.llm_server import Behaviour, Server

FAST = Behaviour(ttft=0.005, itl=0.001, jitter=0.0)


def with_client(server: Server, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(server.app())) as client:
            await check(client)

    asyncio.run(run())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_streamed_completion_is_sse_chunks_then_done_and_counted() -> None:
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    async def check(client: TestClient[Any, Any]) -> None:
        answer = await client.post(
            "/v1/completions", json={"prompt": "hi", "max_tokens": 3, "stream": True}
        )
        assert answer.status == 200
        assert answer.headers["X-Model-Version"] == "2.0.0"
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in (await answer.text()).split("\n\n") if line]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert [c["choices"][0]["text"] for c in chunks] == [" tok0", " tok1", " tok2", ""]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
        plain = await client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2})
        assert (await plain.json())["choices"][0]["text"] == " tok0 tok1"
        bad = await client.post("/v1/completions", data=b"not json")
        assert bad.status == 400
        metrics.update(samples(await (await client.get("/metrics")).text()))

    with_client(Server(FAST, "2.0.0", "chat"), check)
    by = (("model_name", "chat"),)
    assert metrics[("vllm:time_to_first_token_seconds_count", by)] == 2
    assert metrics[("vllm:inter_token_latency_seconds_count", by)] == 3  # 2 + 1 gaps
    assert metrics[("vllm:generation_tokens_total", by)] == 5
    http = (("handler", "/v1/completions"), ("method", "POST"))
    assert metrics[("http_requests_total", (*http, ("status", "2xx")))] == 2
    assert metrics[("http_requests_total", (*http, ("status", "4xx")))] == 1
    assert metrics[("http_requests_total", (*http, ("status", "5xx")))] == 0, "at zero"
    assert not any(dict(labels).keys() & {"namespace", "model", "version"} for _, labels in metrics)


def test_errors_and_slow_loading_are_faults_to_switch_on() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/health")).status == 503, "still loading"
        failed = await client.post("/v1/completions", json={"prompt": "x", "stream": True})
        assert failed.status == 500

    with_client(Server(Behaviour(error_share=1.0, start=3600), "3.0.0", "chat"), check)


def test_delays_follow_the_fault_factors() -> None:
    rng = random.Random(1)
    base, slow = Behaviour(jitter=0.0), Behaviour(jitter=0.0, ttft_factor=2, itl_factor=1.3)
    assert slow.first_token(rng) == pytest.approx(2 * base.first_token(rng))
    assert slow.next_token(rng) == pytest.approx(1.3 * base.next_token(rng))
    one_in_twenty = Behaviour(jitter=0.0, slow_token_share=0.05, slow_token_factor=2)
    gaps = [one_in_twenty.next_token(rng) for _ in range(20_000)]
    share = sum(g > base.itl * 1.5 for g in gaps) / len(gaps)
    assert 0.04 < share < 0.06


def test_the_environment_is_bounded() -> None:
    assert Behaviour.from_env({"LLM_FAULT_TTFT_FACTOR": "2"}).ttft_factor == 2
    with pytest.raises(ValueError, match="LLM_TTFT_SECONDS"):
        Behaviour.from_env({"LLM_TTFT_SECONDS": "-1"})
    with pytest.raises(ValueError, match="finite"):
        Behaviour.from_env({"LLM_ITL_SECONDS": "nan"})
