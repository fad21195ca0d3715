"""Start and stop the environment's server processes so that none outlives its owner.

Attached processes (the pytest session) get PR_SET_PDEATHSIG: the kernel kills
them when the owning process dies, even by SIGKILL, so an interrupted test run
leaves nothing behind. Detached processes (`make cluster-up`) run in their own
session and are stopped through the pids recorded in the state file.

The kernel fires PR_SET_PDEATHSIG when the *thread* that forked the child ends, not
the process: a process started from a test's helper thread would be killed with that
thread. So every attached process is forked from one spawner thread that lives as
long as the process does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Its one thread never ends before the process does (an idle pool thread waits forever).
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProcessDied(RuntimeError):
    pass


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, *, detach: bool) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:

            def spawn() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    start_new_session=True,
                    preexec_fn=None if detach else _die_with_parent,
                )

            self.popen = spawn() if detach else _SPAWNER.submit(spawn).result()

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ProcessDied(
                f"{self.name} exited with code {self.popen.returncode}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        terminate_pid(self.popen.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is still there after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    watch: list[Process] | None = None,
    interval: float = 0.1,
) -> None:
    """Poll `condition` until true; fail early, with logs, if a watched process dies."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for proc in watch or []:
            proc.check_alive()
        try:
            if condition():
                return
        except Exception as exc:  # the server may not be listening yet
            last_error = exc
        time.sleep(interval)
    logs = "\n".join(f"--- {p.name} ({p.log_path}):\n{p.log_tail()}" for p in watch or [])
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}: {last_error}\n{logs}")
