"""Install CustomResourceDefinitions (ours or the upstream traffic APIs') and wait for them."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testenv import settings
from testenv.procs import wait_until

FIELD_MANAGER = "modelrollout-testenv"
MODELROLLOUT_CRD = settings.REPO_ROOT / "crds" / "modelrollout.io_modeldeployments.yaml"

UPSTREAM = {
    "gateway-api": "gateway-api-v1.6.1",
    "istio": "istio-1.30.3",
}


class MissingCRDs(RuntimeError):
    pass


def upstream_crd_files(name: str, shared: Path = settings.SHARED_CRDS) -> list[Path]:
    """The upstream CRD files of one traffic API, or a clear error saying what is missing."""
    folder = shared / UPSTREAM[name]
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise MissingCRDs(
            f"no {name} CRDs in {folder}: expected the upstream files from shared/crds; "
            f"set MODELROLLOUT_SHARED_CRDS to the folder that holds {UPSTREAM[name]}/"
        )
    return files


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
