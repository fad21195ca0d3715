"""What ships is what is tested: the image `make image` builds (from the hash-pinned
lock, with buildah) runs its own entrypoint as uid 10001 against the test control
plane, and reconciles a ModelDeployment through a canary to promotion.

No container runtime runs images here (`podman run` fails on these machines' cgroups),
so `buildah run --isolation chroot` runs it: the image's filesystem, user and
entrypoint, on the host's network (the API server and Prometheus on 127.0.0.1).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from testenv import image
from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.ports import free_port
from testenv.procs import Process
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import Scenario
from testenv.serviceaccounts import cluster_admin_service_account

BUILDAH = ["buildah", *image.STORAGE]


@pytest.fixture(scope="session")
def built_image() -> str:
    return image.build()


def self_contained(kubeconfig: Path, out: Path) -> Path:
    """The kubeconfig with its CA inline: the image's filesystem has no host paths."""
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        cluster = entry["cluster"]
        ca = Path(cluster.pop("certificate-authority"))
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o644)  # read by uid 10001 inside
    return out


@pytest.fixture
def container(built_image: str) -> Iterator[str]:
    name = f"modelrollout-e2e-{uuid.uuid4().hex[:8]}"
    image.run(*BUILDAH, "from", "--name", name, built_image)
    try:
        yield name
    finally:
        image.run(*BUILDAH, "rm", name)


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def operator_pids(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = b"modelrollout" in argv and marker.encode() in b" ".join(argv)
            if ours and not argv[0].endswith(b"buildah"):
                found.append(int(proc.name))
    return found


def test_the_built_image_runs_as_uid_10001_and_promotes_a_canary(
    built_image: str,
    container: str,
    cluster: Cluster,
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    session_operator_stopped: None,
    tmp_path: Path,
) -> None:
    with cluster_admin_service_account(
        api, cluster.kubeconfig, namespace, "imaged", tmp_path / "sa.kubeconfig"
    ) as kubeconfig:
        inside = self_contained(kubeconfig, tmp_path / "kubeconfig")
        port = free_port()
        argv = [
            *BUILDAH,
            "run",
            "--isolation",
            "chroot",
            "--volume",
            f"{inside}:/kubeconfig:ro",
            "--env",
            "KUBECONFIG=/kubeconfig",
            container,
            "--",
            *image.entrypoint(built_image),
            f"--namespace={namespace}",
            "--prometheus-allow=127.0.0.0/8",
            f"--liveness=http://127.0.0.1:{port}/healthz",
        ]
        proc = Process("image-operator", argv, tmp_path / "image-operator.log")
        proc.start(detach=False)
        try:
            s = Scenario(api, namespace, prometheus, "imaged")
            try:
                s.create_route()
                s.traffic("1.0.0", Traffic())
                s.traffic("2.0.0", Traffic())
                s.create("1.0.0")
                s.wait_healthy("1.0.0", timeout=120)
                pids = operator_pids(namespace)
                assert pids, "the operator's process inside the image"
                assert {uid_of(pid) for pid in pids} == {10001}
                s.set_version("2.0.0")
                s.wait_healthy("2.0.0", timeout=180)
                # Posted after the decision is recorded and acted on: it may follow the
                # status that says Healthy (seen under load).
                s.wait_events(lambda _t, r, _m: r == "Promoted", "a Promoted event")
            finally:
                s.close()
            proc.check_alive()
        finally:
            proc.stop()
