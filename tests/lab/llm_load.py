"""LAB-ONLY: an open-loop load of streamed completions (OpenAI's API), recording what a
client sees of each: when its first token came (time to first token), the gaps
between tokens, how many came, whether the stream ended with `[DONE]`, and which
version answered (X-Model-Version)."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import threading
import time
from dataclasses import dataclass

import aiohttp

from lab.open_loop import open_loop

TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Stream:
    sent: float  # time.time()
    status: int  # 0: no HTTP answer
    version: str
    ttft: float | None  # seconds from sending to the first token; None: no token
    gaps: tuple[float, ...]  # seconds between tokens
    tokens: int
    done: bool  # ended with `data: [DONE]`

    @property
    def ok(self) -> bool:
        """Answered in full: 200, every token, and the end of the stream."""
        return self.status == 200 and self.done and self.tokens > 0

    @property
    def cut(self) -> bool:
        """Started (200 and a token) but never finished: a stream cut mid-way."""
        return self.status == 200 and self.tokens > 0 and not self.done


def median_ttft(streams: list[Stream]) -> float:
    return statistics.median(s.ttft for s in streams if s.ttft is not None)


class StreamingLoad:
    def __init__(self, url: str, rps: float, max_tokens: int = 16) -> None:
        self.url, self.rps, self.max_tokens = url, rps, max_tokens
        self.streams: list[Stream] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def once(self) -> Stream:
        """One stream, now, outside the schedule (and not recorded)."""

        async def one() -> Stream:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                return await self._stream(session, 0)

        return asyncio.run(one())

    def between(self, start: float, end: float = float("inf")) -> list[Stream]:
        with self._lock:
            return [s for s in self.streams if start <= s.sent < end]

    async def _main(self) -> None:
        await open_loop(self.rps, self._stopping, TIMEOUT_SECONDS, self._one)

    async def _one(self, session: aiohttp.ClientSession, n: int) -> None:
        stream = await self._stream(session, n)
        with self._lock:
            self.streams.append(stream)

    async def _stream(self, session: aiohttp.ClientSession, n: int) -> Stream:
        body = {"model": "lab", "prompt": f"request {n}", "max_tokens": self.max_tokens}
        sent, clock = time.time(), time.monotonic()
        status, version, ttft, done = 0, "", None, False
        times: list[float] = []
        try:
            async with session.post(
                f"{self.url}/v1/completions", json={**body, "stream": True}
            ) as response:
                status, version = response.status, response.headers.get("X-Model-Version", "")
                async for line in response.content:
                    text = line.decode(errors="replace").strip()
                    if not text.startswith("data: "):
                        continue
                    data = text[len("data: ") :]
                    if data == "[DONE]":
                        done = True
                        break
                    if _token(data):
                        times.append(time.monotonic() - clock)
        except (aiohttp.ClientError, TimeoutError):
            pass
        if times:
            ttft = times[0]
        gaps = tuple(b - a for a, b in itertools.pairwise(times))
        return Stream(sent, status, version, ttft, gaps, len(times), done)


def _token(data: str) -> bool:
    """A chunk carrying a token (the last chunk carries only the finish reason)."""
    try:
        return bool(json.loads(data)["choices"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError):
        return False
