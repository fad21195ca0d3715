"""A webhook receiver on 127.0.0.1 that records what it is sent (notification tests)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when it arrived
    headers: dict[str, str]
    body: Any
    answered: int


class WebhookReceiver:
    """Answers each POST with the next of `answers` (then 200); `hang` holds each
    request this long before answering (a receiver that is slow or stuck)."""

    def __init__(self, answers: list[int] | None = None, hang: float = 0.0) -> None:
        self.received: list[Received] = []
        self.arrivals = 0  # requests that arrived, answered or not yet
        self.answers = list(answers or [])
        self.hang = hang
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.arrivals += 1
                    status = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.hang:
                    time.sleep(receiver.hang)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up waiting
                with receiver._lock:
                    receiver.received.append(
                        Received(arrived, dict(self.headers), json.loads(raw or b"null"), status)
                    )

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
