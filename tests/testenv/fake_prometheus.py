"""A stand-in Prometheus that answers /api/v1/query with whatever a test scripts: any
status code, any body (well-formed or not), optionally slower than a timeout.

For what a real Prometheus never says (+Inf from a ratio over zero, malformed bodies,
answers cut short), where the operator must name the shape and keep going.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class Answer:
    code: int
    body: str
    slow: float = 0.0  # seconds to wait before answering
    headers: tuple[tuple[str, str], ...] = ()  # beside Content-Type and Content-Length


def success(result_type: str, result: Any) -> str:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}})


def vector(*values: Any) -> str:
    """An instant vector with one series per value, e.g. vector("0.5") or vector("+Inf")."""
    return success("vector", [{"metric": {}, "value": [1.0, v]} for v in values])


def error(kind: str, message: str) -> str:
    return json.dumps({"status": "error", "errorType": kind, "error": message})


Script = Callable[[str], Answer]  # the PromQL asked -> the answer to give


class FakePrometheus:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.queries: list[str] = []
        self.closing = threading.Event()  # set on stop: a slow answer returns at once
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
                fake.queries.append(query)
                answer = fake.script(query)
                if answer.slow:
                    fake.closing.wait(answer.slow)
                data = answer.body.encode()
                self.send_response(answer.code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None  # a client that gave up on a slow answer: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[FakePrometheus]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.closing.set()
            self.server.shutdown()
            self.server.server_close()
