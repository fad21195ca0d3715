"""`make image`: the operator's image, built without a Docker engine.

1. A wheelhouse (build/wheelhouse): every runtime package pinned in
   requirements-runtime.lock, downloaded with its hash checked, and the operator's own
   wheel built from this tree. The build installs from it alone: a build container here
   cannot verify the package index's TLS, and nothing unpinned gets in either way.
2. A base: the registry's base images cannot be pulled here, so a Debian bookworm root
   with python3 is made by mmdebstrap from Debian's packages and loaded with
   `podman import` (cached: built once per machine).
3. `buildah bud --isolation chroot --storage-driver vfs` of the Dockerfile with that
   base, tagged by a digest of everything that goes in (a second build of the same
   inputs is skipped).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from testenv import settings

ROOT = settings.REPO_ROOT
LOCK = ROOT / "requirements-runtime.lock"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
BASE = "localhost/modelrollout-base:bookworm"
REPOSITORY = "localhost/modelrollout"
STORAGE = ["--storage-driver", "vfs"]
DEBIAN_PACKAGES = ("buildah", "mmdebstrap", "podman")
_PLATFORM = [
    "--only-binary=:all:",
    "--python-version=3.11",
    "--implementation=cp",
    *(f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "any")),
    *(f"--abi={a}" for a in ("cp311", "abi3", "none")),
]


def run(*argv: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def require_tools() -> None:
    missing = [tool for tool in DEBIAN_PACKAGES if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"missing {', '.join(missing)}: `make deps` installs them (Debian packages)"
        )


def fill_wheelhouse() -> None:
    if WHEELHOUSE.exists():
        shutil.rmtree(WHEELHOUSE)
    WHEELHOUSE.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip"]
    run(*pip, "download", "-q", "--require-hashes", "--no-deps", "-r", str(LOCK),
         "-d", str(WHEELHOUSE), *_PLATFORM)  # fmt: skip
    run(*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(WHEELHOUSE), ".")


def ensure_base() -> None:
    if run("podman", *STORAGE, "images", "-q", BASE).strip():
        return
    tarball = settings.CACHE_DIR / "image" / "base-bookworm.tar"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    run("mmdebstrap", "--variant=minbase", "--include=python3,python3-venv",
         "bookworm", str(tarball))  # fmt: skip
    run("podman", *STORAGE, "import", str(tarball), BASE)
    tarball.unlink()


def build() -> str:
    """The image's name, built (or found built from the same inputs)."""
    require_tools()
    fill_wheelhouse()
    ensure_base()
    image = f"{REPOSITORY}:{_digest()}"
    if not _exists(image):
        run("buildah", *STORAGE, "bud", "--isolation", "chroot", "--layers=false",
             f"--build-arg=BASE={BASE}", "-t", image, ".")  # fmt: skip
    return image


def _digest() -> str:
    """Of what goes in: the Dockerfile, the lock (the wheels are checked against its
    hashes) and what the operator's wheel is built from."""
    digest = hashlib.sha256()
    for path in (ROOT / "Dockerfile", LOCK, ROOT / "pyproject.toml", *_sources()):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _sources() -> list[Path]:
    return sorted(p for p in (ROOT / "operator").rglob("*.py") if "__pycache__" not in p.parts)


def _exists(image: str) -> bool:
    done = subprocess.run(["buildah", *STORAGE, "inspect", "--type", "image", image],
                          capture_output=True, check=False)  # fmt: skip
    return done.returncode == 0


def entrypoint(image: str) -> list[str]:
    """The image's ENTRYPOINT, as its config holds it."""
    config = json.loads(run("buildah", *STORAGE, "inspect", "--type", "image", image))
    found: list[str] = config["OCIv1"]["config"]["Entrypoint"]
    return found


if __name__ == "__main__":
    print(build())
