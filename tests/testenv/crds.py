"""Install CustomResourceDefinitions (ours or the upstream traffic APIs') and wait for them."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testenv import settings
from testenv.procs import wait_until

FIELD_MANAGER = "modelrollout-testenv"
MODELROLLOUT_CRD = settings.REPO_ROOT / "crds" / "modelrollout.io_modeldeployments.yaml"
# hack/crds/go.mod pins the upstream modules and go.sum verifies them.
CRD_MODULES = settings.REPO_ROOT / "hack" / "crds"


@dataclass(frozen=True)
class Upstream:
    module: str
    bundles: tuple[str, ...]  # files inside the module, relative to its root
    crds: frozenset[str]  # the CRDs taken from them (a bundle may hold more)


_GATEWAY_KINDS = ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants")
UPSTREAM = {
    "gateway-api": Upstream(
        "sigs.k8s.io/gateway-api",
        tuple(f"config/crd/standard/gateway.networking.k8s.io_{p}.yaml" for p in _GATEWAY_KINDS),
        frozenset(f"{p}.gateway.networking.k8s.io" for p in _GATEWAY_KINDS),
    ),
    "istio": Upstream(
        "istio.io/api",
        ("kubernetes/customresourcedefinitions.gen.yaml",),
        frozenset({"virtualservices.networking.istio.io", "destinationrules.networking.istio.io"}),
    ),
    "inference-extension": Upstream(
        "sigs.k8s.io/gateway-api-inference-extension",
        ("config/crd/bases/inference.networking.k8s.io_inferencepools.yaml",),
        frozenset({"inferencepools.inference.networking.k8s.io"}),
    ),
}


class MissingCRDs(RuntimeError):
    pass


@functools.cache
def module_dir(module: str) -> Path:
    """The pinned module's folder in Go's module cache, downloaded (and verified) once."""
    go = shutil.which("go")
    if go is None:
        raise MissingCRDs(
            f"Go is not installed: the upstream CRDs come from the Go module {module}"
        )
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=readonly")
    done = subprocess.run(
        [go, "mod", "download", "-json", module],
        cwd=CRD_MODULES,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or "Dir" not in info:
        raise MissingCRDs(
            f"cannot download the Go module {module} pinned in {CRD_MODULES}/go.mod "
            f"(needs the Go module proxy): {info.get('Error') or done.stderr.strip()}"
        )
    return Path(info["Dir"])


def upstream_crds(name: str) -> list[dict[str, Any]]:
    """The upstream CRDs of one traffic API, unchanged, from its pinned Go module."""
    upstream = UPSTREAM[name]
    root = module_dir(upstream.module)
    docs = [
        doc
        for doc in load_documents(root / bundle for bundle in upstream.bundles)
        if doc.get("kind") == "CustomResourceDefinition"
        and doc["metadata"]["name"] in upstream.crds
    ]
    missing = upstream.crds - {doc["metadata"]["name"] for doc in docs}
    if missing:
        raise MissingCRDs(f"{upstream.module} in {root} lacks {', '.join(sorted(missing))}")
    return docs


def load_documents(files: Iterable[Path]) -> list[dict[str, Any]]:
    return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]


def apply_crds(
    api: client.ApiClient, crds: Iterable[Path | dict[str, Any]], timeout: float = 30
) -> list[str]:
    """Server-side apply every CRD (files or documents) and wait until each is Established."""
    ext = client.ApiextensionsV1Api(api)
    items = list(crds)
    docs = [c for c in items if isinstance(c, dict)]
    docs += load_documents(c for c in items if isinstance(c, Path))
    names = []
    for doc in docs:
        name = doc["metadata"]["name"]
        names.append(name)
        ext.patch_custom_resource_definition(
            name,
            doc,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    for name in names:
        wait_until(
            functools.partial(_established, ext, name),
            timeout=timeout,
            what=f"CRD {name} Established",
        )
    return names


def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    try:
        crd = ext.read_custom_resource_definition(name)
    except ApiException:
        return False
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)
