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


class LocalPrometheus:
    def __init__(self, workdir: Path, binary: Path, *, detach: bool = False) -> None:
        self.workdir = workdir
        self.binary = binary
        self.detach = detach
        self.port = 0
        self.process: Process | None = None
        self.targets_dir = workdir / "targets"

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
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [
                {
                    "job_name": "test-targets",
                    "scrape_timeout": SCRAPE_INTERVAL,
                    "file_sd_configs": [
                        {"files": [str(self.targets_dir / "*.json")], "refresh_interval": "1s"}
                    ],
                }
            ],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.process = Process(
            "prometheus",
            [
                str(self.binary),
                f"--config.file={config_path}",
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

    def add_target(self, name: str, address: str, labels: dict[str, str] | None = None) -> None:
        """Scrape `address` (host:port) from now on; returns once Prometheus reports it up."""
        path = self.targets_dir / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [address], "labels": labels or {}}]))
        tmp.rename(path)  # atomic, so Prometheus never reads half a file
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
