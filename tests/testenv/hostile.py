"""An endpoint a hostile tenant points its analysis at, on 127.0.0.1: one base path per
behaviour (the operator appends /api/v1/query to it).

- /drip: a 200 whose body comes one byte per second;
- /bomb: a gzip bomb (200 MiB of zeros in about 200 KiB);
- /big: a 50 MB body;
- /redirect: a 302 to the "metadata" server below;
- /metadata: a cloud metadata server's answer, a secret in plain text.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-noisy-neighbour"
KINDS = ("drip", "bomb", "big", "redirect", "metadata")
_BOMB = gzip.compress(b"0" * (200 * 1024 * 1024), compresslevel=9)
_BIG = 50 * 1000 * 1000


class HostileEndpoint:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kind = self.path.strip("/").split("/", 1)[0]
                outer.requests[kind] += 1
                with contextlib.suppress(OSError):  # the client hung up: as intended
                    outer.answer(kind, self)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, kind: str, h: BaseHTTPRequestHandler) -> None:
        if kind == "redirect":
            h.send_response(302)
            h.send_header("Location", f"{self.url}/metadata/latest/user-data")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body_type = "text/plain" if kind == "metadata" else "application/json"
        h.send_response(200)
        h.send_header("Content-Type", body_type)
        if kind == "metadata":
            text = f"#!/bin/sh\nexport {SECRET}\n".encode()
            h.send_header("Content-Length", str(len(text)))
            h.end_headers()
            h.wfile.write(text)
        elif kind == "bomb":
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(_BOMB)))
            h.end_headers()
            h.wfile.write(_BOMB)
        elif kind == "big":
            h.send_header("Content-Length", str(_BIG))
            h.end_headers()
            chunk = b"0" * 65536
            for _ in range(_BIG // len(chunk)):
                h.wfile.write(chunk)
        else:  # drip
            h.send_header("Content-Length", "600")
            h.end_headers()
            for _ in range(600):
                if self.stopping.wait(1.0):
                    return
                h.wfile.write(b" ")
                h.wfile.flush()

    @contextlib.contextmanager
    def running(self) -> Iterator[HostileEndpoint]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            self.server.shutdown()
            self.server.server_close()
