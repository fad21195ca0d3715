"""A real Prometheus on 127.0.0.1 with a 1 s scrape interval and file-based targets.

Tests register scrape targets by writing file_sd files; Prometheus watches the
folder, so a new target is scraped within about a second.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import requests
import yaml

from testenv.ports import free_port
from testenv.procs import Process, wait_until

SCRAPE_INTERVAL = "1s"


def write_target(path: Path, address: str, labels: dict[str, str]) -> None:
    """A file_sd target file, written atomically: Prometheus never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [address], "labels": labels}]))
    tmp.rename(path)


class LocalPrometheus:
    def __init__(self, workdir: Path, binary: Path, *, detach: bool = False) -> None:
        self.workdir = workdir
        self.binary = binary
        self.detach = detach
        self.port = 0
        self.process: Process | None = None
        self.targets_dir = workdir / "targets"
        self.jobs: dict[str, dict[str, object]] = {}  # scrape jobs besides the file targets

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> str:
        """Start (or restart on the same port, keeping its data) and wait until ready."""
        fresh = port is None
        if fresh and self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process = Process(
            "prometheus",
            [
                str(self.binary),
                f"--config.file={self._write_config()}",
                "--web.enable-lifecycle",  # /-/reload, for add_job
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            self.workdir / "prometheus.log",
        )
        self.process.start(detach=self.detach)
        wait_until(
            lambda: requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200,
            timeout=30,
            what="Prometheus /-/ready",
            watch=[self.process],
        )
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _write_config(self) -> Path:
        files = {"files": [str(self.targets_dir / "*.json")], "refresh_interval": "1s"}
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [
                {
                    "job_name": "test-targets",
                    "scrape_timeout": SCRAPE_INTERVAL,
                    "file_sd_configs": [files],
                },
                *self.jobs.values(),
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    def add_job(self, job: dict[str, object]) -> None:
        """A scrape job of its own (Kubernetes service discovery, say), from now on."""
        self.jobs[str(job["job_name"])] = {"scrape_timeout": SCRAPE_INTERVAL, **job}
        self._reload()

    def remove_job(self, name: str) -> None:
        if self.jobs.pop(name, None) is not None:
            self._reload()

    def _reload(self) -> None:
        self._write_config()
        answer = requests.post(f"{self.url}/-/reload", timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"Prometheus refused its new configuration: {answer.text[:500]}")

    def add_target(self, name: str, address: str, labels: dict[str, str] | None = None) -> None:
        """Scrape `address` (host:port) from now on; returns once Prometheus reports it up."""
        write_target(self.targets_dir / f"{name}.json", address, labels or {})
        self.wait_scraped(address)

    def wait_scraped(self, address: str) -> None:
        """Returns once Prometheus reports the target at `address` up."""
        wait_until(
            lambda: self._target_health(address) == "up",
            timeout=30,
            what=f"Prometheus scraping {address}",
            watch=[self.process] if self.process else [],
        )

    def remove_target(self, name: str) -> None:
        (self.targets_dir / f"{name}.json").unlink(missing_ok=True)

    def _target_health(self, address: str) -> str | None:
        data = requests.get(f"{self.url}/api/v1/targets", timeout=2).json()
        for target in data["data"]["activeTargets"]:
            if target["labels"].get("instance") == address:
                health: str = target["health"]
                return health
        return None
