"""LAB-ONLY: an open-loop load generator that records every request's outcome.

Requests leave on a fixed schedule (`rps`), whether or not earlier ones have been
answered, so a slow backend cannot slow the load down and hide its own latency.
Each answer is recorded: when it was sent, how long it took, the HTTP status (0 for
a connection error or timeout), the model version that served it, and whether it
carried the generator's extra headers (sent with a set share of the requests, spread
evenly: a header route's testers). Inputs are the rows of the model's own data set
(iris) in a shuffled order, and a share of them can be malformed (a row outside the
ranges the model was trained for, or too short), which a good server refuses with 400;
each answer's predicted label is recorded beside the row's true class. A share of the
well-formed requests (`feedback`) says which class it expected (X-Expected-Label): the
lab's users, who click an answer that is the one they wanted (the server counts it).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from sklearn.datasets import load_iris

from lab.open_loop import open_loop

TIMEOUT_SECONDS = 5.0
MALFORMED = ([51.0, 3.5, 1.4, 0.2], [5.1, 3.5])  # out of range; too short


def _rows() -> list[tuple[list[float], str]]:
    iris = load_iris()
    rows = [
        (row.tolist(), str(iris.target_names[target]))
        for row, target in zip(iris.data, iris.target, strict=True)
    ]
    random.Random(0).shuffle(rows)
    return rows


ROWS = _rows()


@dataclass(frozen=True)
class Outcome:
    sent: float  # time.time()
    latency: float
    status: int  # 0: no HTTP answer
    version: str  # X-Model-Version of the answer; "" without one
    tagged: bool = False  # sent with the extra headers
    label: str = ""  # the answer's predicted class
    expected: str = ""  # the row's true class ("" for a malformed row)
    malformed: bool = False

    @property
    def ok(self) -> bool:
        """Answered as a good server should: a prediction, or 400 for a malformed row."""
        return self.status == (400 if self.malformed else 200)


class LoadGenerator:
    def __init__(
        self,
        url: str,
        rps: float,
        headers: dict[str, str] | None = None,
        share: float = 0.0,
        malformed: float = 0.0,
        feedback: float = 0.0,
    ) -> None:
        self.url, self.rps = url, rps
        self.headers, self.share = headers or {}, share if headers else 0.0
        self.malformed, self.feedback = malformed, feedback
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="lab-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        """Outcomes of requests sent in [start, end) (time.time())."""
        with self._lock:
            return [o for o in self.outcomes if start <= o.sent < end]

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        await open_loop(self.rps, self._stopping, TIMEOUT_SECONDS, self._send)

    async def _send(self, session: aiohttp.ClientSession, sent: int) -> None:
        # Every request where the running count of tagged (or malformed) ones steps up:
        # spread evenly.
        tagged = int((sent + 1) * self.share) > int(sent * self.share)
        bad = int((sent + 1) * self.malformed) > int(sent * self.malformed)
        says = int((sent + 1) * self.feedback) > int(sent * self.feedback)
        row, expected = (MALFORMED[sent % 2], "") if bad else ROWS[sent % len(ROWS)]
        headers = {**(self.headers if tagged else {})}
        if says and expected:
            headers["X-Expected-Label"] = expected
        await self._one(session, {"instances": [row]}, headers, tagged, expected, bad)

    async def _one(
        self,
        session: aiohttp.ClientSession,
        body: dict[str, Any],
        headers: dict[str, str],
        tagged: bool,
        expected: str,
        malformed: bool,
    ) -> None:
        sent, clock = time.time(), time.monotonic()
        status, version, label = 0, "", ""
        try:
            async with session.post(
                f"{self.url}/predict", json=body, headers=headers or None
            ) as response:
                payload = await response.read()
                status, version = response.status, response.headers.get("X-Model-Version", "")
                if status == 200:
                    label = _label(payload)
                    if not label:
                        status = 0  # an answer without predictions is no answer
        except (aiohttp.ClientError, TimeoutError):
            pass
        took = time.monotonic() - clock
        outcome = Outcome(sent, took, status, version, tagged, label, expected, malformed)
        with self._lock:
            self.outcomes.append(outcome)


def _label(payload: bytes) -> str:
    """The first prediction's label; "" for anything else."""
    try:
        label = json.loads(payload)["predictions"][0]["label"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return label if isinstance(label, str) else ""
