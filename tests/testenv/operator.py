"""The operator as a real process against the test cluster, restartable (and killable)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import requests

from testenv import settings
from testenv.ports import free_port
from testenv.procs import Process


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        args: Sequence[str] = (),
    ) -> None:
        self.env = dict(
            os.environ,
            KUBECONFIG=str(kubeconfig),
            PYTHONPATH=str(settings.REPO_ROOT / "operator"),
        )
        self.log_dir = log_dir
        self.starts = 0
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.args = list(args)
        self.process: Process | None = None

    def start(self) -> None:
        self.starts += 1
        self.process = Process(
            "operator",
            [
                sys.executable,
                "-m",
                "modelrollout",
                f"--metrics-port={self.metrics_port}",
                f"--liveness=http://127.0.0.1:{self.health_port}/healthz",
                # The test Prometheus and its stand-ins listen on loopback, which the
                # operator refuses unless listed.
                "--prometheus-allow=127.0.0.0/8",
                *self.args,
            ],
            self.log_dir / f"operator-{self.starts}.log",
            env=self.env,
        )
        self.process.start(detach=False)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status write; as a crash or an OOM kill would."""
        assert self.process is not None
        assert self.process.popen is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.popen.wait()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def reconciles(self) -> float:
        """How many reconciles it has run (its own metrics)."""
        return self.metric("modelrollout_reconcile_duration_seconds_count")

    def metric(self, prefix: str) -> float:
        """The sum of its own metrics' samples whose line starts with `prefix` (a name,
        or a name and the start of its labels)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = requests.get(url, timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
        )

    def rss_mib(self) -> float:
        """Its resident memory."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc: the operator is gone")

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("operator-*.log")))
