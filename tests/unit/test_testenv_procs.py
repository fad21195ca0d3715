"""The test environment leaves nothing running, even when its owner is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from testenv.procs import Process, ProcessDied, pid_alive, wait_until

_OWNER = """
import sys, time
from pathlib import Path
from testenv.procs import Process
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
child = Process("sleeper", sleep, Path(sys.argv[1]))
child.start(detach=False)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_attached_children_die_when_their_owner_is_killed(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(tmp_path / "sleeper.log")],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert owner.stdout is not None
    child_pid = int(owner.stdout.readline())
    assert pid_alive(child_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    wait_until(lambda: not pid_alive(child_pid), timeout=10, what="the orphan to be killed")


def test_a_child_started_from_a_thread_outlives_that_thread(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG fires when the forking thread ends: the harness must not fork
    from the caller's thread (a test restarting the operator from a helper thread)."""
    started: list[Process] = []

    def start() -> None:
        proc = Process(
            "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], tmp_path / "l"
        )
        proc.start(detach=False)
        started.append(proc)

    helper = threading.Thread(target=start)
    helper.start()
    helper.join()
    (proc,) = started
    try:
        assert proc.popen is not None
        with pytest.raises(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=1.0)  # killed at once (signal 9) if forked by the helper
        assert pid_alive(proc.pid)
    finally:
        proc.stop(timeout=5)


def test_stop_terminates_the_process_group(tmp_path: Path) -> None:
    proc = Process(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], tmp_path / "l"
    )
    proc.start(detach=True)
    pid = proc.pid
    proc.stop(timeout=5)
    assert not pid_alive(pid)


def test_wait_until_reports_a_dead_process_with_its_log(tmp_path: Path) -> None:
    proc = Process(
        "crasher", [sys.executable, "-c", "print('bad flag'); raise SystemExit(3)"], tmp_path / "l"
    )
    proc.start(detach=False)
    with pytest.raises(ProcessDied, match=r"(?s)crasher exited with code 3.*bad flag"):
        wait_until(lambda: False, timeout=10, what="never", watch=[proc])


def test_wait_until_times_out_with_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="the impossible"):
        wait_until(lambda: False, timeout=0.3, what="the impossible")


def test_free_ports_avoid_the_ephemeral_range_and_each_other() -> None:
    """Outgoing connections take their local port from the ephemeral range, so a port
    picked there can be gone by the time a server binds it; and no two pickers, in this
    process or another, get the same port."""
    from testenv.ports import _ephemeral_range, free_port

    low, high = _ephemeral_range()
    mine = {free_port() for _ in range(50)}
    assert len(mine) == 50
    assert not any(low <= port <= high for port in mine)
    code = "from testenv.ports import free_port; print(*[free_port() for _ in range(200)])"
    theirs = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(theirs) == 200
    assert mine.isdisjoint(int(p) for p in theirs)
