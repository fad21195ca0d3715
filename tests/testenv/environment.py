"""The whole test environment: control plane plus Prometheus, as one unit.

`make cluster-up` runs it detached and records it in a state file, so that
`make cluster-down` (or the next `cluster-up`) can stop exactly those processes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from testenv import settings
from testenv.binaries import ensure_all
from testenv.controlplane import Endpoints, LocalControlPlane
from testenv.procs import pid_alive, terminate_pid
from testenv.prometheus import LocalPrometheus

STATE_FILE = settings.CLUSTER_DIR / "state.json"


@dataclass(frozen=True)
class State:
    kubeconfig: str
    server: str
    prometheus: str
    prometheus_targets: str
    pids: list[int]
    start_seconds: float


class Environment:
    def __init__(self, workdir: Path = settings.CLUSTER_DIR, *, detach: bool = False) -> None:
        self.workdir = workdir
        self.detach = detach
        self.binaries = ensure_all()
        self.control_plane = LocalControlPlane(
            workdir / "controlplane", self.binaries, detach=detach
        )
        self.prometheus = LocalPrometheus(
            workdir / "prometheus", self.binaries.prometheus, detach=detach
        )
        self.start_seconds = 0.0

    def start(self) -> Endpoints:
        started = time.monotonic()
        try:
            self.prometheus.start()
            endpoints = self.control_plane.start()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return endpoints

    def stop(self) -> None:
        self.control_plane.stop()
        self.prometheus.stop()

    def state(self) -> State:
        endpoints = self.control_plane.endpoints
        assert endpoints is not None
        assert self.prometheus.process is not None
        return State(
            kubeconfig=str(endpoints.kubeconfig),
            server=endpoints.server,
            prometheus=self.prometheus.url,
            prometheus_targets=str(self.prometheus.targets_dir),
            pids=[p.pid for p in self.control_plane.processes] + [self.prometheus.process.pid],
            start_seconds=round(self.start_seconds, 2),
        )


def read_state() -> State | None:
    try:
        return State(**json.loads(STATE_FILE.read_text()))
    except FileNotFoundError:
        return None


def write_state(state: State) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(asdict(state), indent=2))


def stop_recorded() -> int:
    """Stop the processes of a detached environment; returns how many were running."""
    state = read_state()
    if state is None:
        return 0
    running = [pid for pid in state.pids if pid_alive(pid)]
    for pid in reversed(running):
        terminate_pid(pid)
    STATE_FILE.unlink(missing_ok=True)
    return len(running)
