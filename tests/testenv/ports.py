"""Free TCP ports on 127.0.0.1 for the servers the environment starts.

A port the kernel hands out for bind(("127.0.0.1", 0)) comes from the ephemeral range,
the same range it takes the local port of every outgoing connection from. Released
and bound again a moment later by a server, such a port is often already the local end
of some client's connection (on a busy machine, often enough to fail a run with
"Address already in use"). So ports are picked below the ephemeral range, where the
kernel never assigns one by itself, and reserved with a lock file so that two test
processes never pick the same one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path

_LOCKS = Path(tempfile.gettempdir()) / "modelrollout-ports"
_held: dict[int, int] = {}  # port -> lock file descriptor, held while this process lives


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _candidates() -> list[int]:
    low, high = _ephemeral_range()
    ports = [p for p in range(20000, 65535) if not low <= p <= high] or list(range(20000, 65535))
    random.shuffle(ports)
    return ports


def _reserve(port: int) -> bool:
    """Lock the port for this process; a lock dies with the process that held it."""
    _LOCKS.mkdir(exist_ok=True)
    fd = os.open(_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[port] = fd
    return True


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port outside the ephemeral range, free now and reserved for this process."""
    for port in _candidates():
        if port in _held or not _reserve(port):
            continue
        if _bindable(port):
            return port
        with contextlib.suppress(OSError):
            os.close(_held.pop(port))
    raise RuntimeError("no free TCP port on 127.0.0.1 outside the ephemeral range")
