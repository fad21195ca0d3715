"""`python -m modelrollout` runs as a real process against the test cluster."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from testenv import settings
from testenv.cluster import Cluster
from testenv.ports import free_port
from testenv.procs import Process, wait_until


@pytest.fixture
def operator_process(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Process, str]]:
    url = f"http://127.0.0.1:{free_port()}/healthz"
    env = dict(
        os.environ,
        KUBECONFIG=str(cluster.kubeconfig),
        PYTHONPATH=str(settings.REPO_ROOT / "operator"),
    )
    proc = Process(
        "operator",
        [sys.executable, "-m", "modelrollout", "--liveness", url],
        tmp_path / "operator.log",
        env=env,
    )
    proc.start(detach=False)
    yield proc, url
    proc.stop()


def test_operator_starts_and_answers_liveness(operator_process: tuple[Process, str]) -> None:
    proc, url = operator_process
    wait_until(
        lambda: requests.get(url, timeout=1).status_code == 200,
        timeout=30,
        what="the operator's liveness endpoint",
        watch=[proc],
    )
    assert "modelrollout 0.1.0 starting" in proc.log_path.read_text()
    assert proc.popen is not None
    proc.popen.terminate()
    assert proc.popen.wait(timeout=30) == 0, proc.log_tail()
