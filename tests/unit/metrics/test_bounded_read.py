"""An answer is read within a size and a deadline: a gzip bomb is refused without being
inflated, a server that drips its body is cut off at the query's timeout."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelrollout.api.spec import PrometheusSource
from modelrollout.metrics.endpoints import EndpointPolicy
from modelrollout.metrics.prometheus import MAX_ANSWER_BYTES, PrometheusProvider
from modelrollout.metrics.provider import ProviderError

Send = Callable[[BaseHTTPRequestHandler], None]

LOOPBACK = EndpointPolicy.parse(["127.0.0.0/8"])  # the test's servers


@contextlib.contextmanager
def serving(send: Send) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with contextlib.suppress(OSError):  # the client hung up: as intended
                send(self)

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def provider(url: str, timeout: str = "2s") -> PrometheusProvider:
    return PrometheusProvider(PrometheusSource(url=url, timeout=timeout), policy=LOOPBACK)


BOMB = gzip.compress(b"0" * (200 * 1024 * 1024), compresslevel=9)  # 200 MiB inflated


def gzip_bomb(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(BOMB)))
    handler.end_headers()
    handler.wfile.write(BOMB)


def test_a_gzip_bomb_is_refused_without_being_inflated() -> None:
    assert len(BOMB) < 300 * 1024
    with serving(gzip_bomb) as url:
        tracemalloc.start()
        try:
            with pytest.raises(ProviderError) as error:
                provider(url).value("q")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(error.value) == (
        f"Prometheus at {url} answered with more than {MAX_ANSWER_BYTES} bytes (decoded): "
        "not read further"
    )
    assert peak < 16 * MAX_ANSWER_BYTES, f"{peak} bytes allocated for a refused answer"


def dripping(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):  # 20 s for the whole body; each byte well within the timeout
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.2)


def test_a_dripping_answer_is_cut_off_at_the_timeout_of_the_whole_query() -> None:
    with serving(dripping) as url:
        started = time.monotonic()
        with pytest.raises(ProviderError, match=r"did not answer within 1s"):
            provider(url, timeout="1s").value("q")
        took = time.monotonic() - started
    # Not a speed figure: the bound itself. Per-read timeouts alone took 20 s here.
    assert took < 5, f"a 1s query held the worker for {took:.1f}s"


def test_an_answer_within_the_bounds_is_read_whole() -> None:
    body = b'{"status":"success","data":{"resultType":"vector","result":[' + (
        b'{"metric":{},"value":[1,"0.25"]}]}}'
    )
    packed = gzip.compress(body)

    def small(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(packed)))
        handler.end_headers()
        handler.wfile.write(packed)

    with serving(small) as url:
        assert provider(url).value("q") == 0.25
