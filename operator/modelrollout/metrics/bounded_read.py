"""Reading an HTTP answer within a size and a deadline, whatever the server does.

`requests` reads a whole body, inflating gzip as it goes, and its timeout bounds each
socket read, not the answer: a small gzip bomb took 815 MiB, and a server sending a
byte every 0.8 s held a 1 s query for 6.4 s. Here the body is read as a stream of
decoded chunks (urllib3 bounds how much one chunk inflates), the socket's timeout is
set to the time left before each read, and reading stops at the cap.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from urllib3.exceptions import ReadTimeoutError

CHUNK = 64 * 1024


class TooLarge(Exception):
    """The decoded answer is larger than the cap."""


class TooSlow(Exception):
    """The answer did not arrive whole before the deadline."""


def read_bounded(response: requests.Response, deadline: float, cap: int) -> bytes:
    """The decoded body of a `stream=True` response; TooLarge past `cap` bytes, TooSlow
    past `deadline` (time.monotonic())."""
    raw: Any = response.raw
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TooSlow
        _socket_timeout(raw, left)
        try:
            chunk = raw.read1(CHUNK, decode_content=True)
        except (TimeoutError, ReadTimeoutError) as exc:
            raise TooSlow from exc
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            raise TooLarge
        chunks.append(chunk)


def _socket_timeout(raw: Any, seconds: float) -> None:
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)
