"""Where the test environment keeps its files, and the settings a person can change."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Pinned versions; hack/*/go.mod are the source of truth, these name the cache folder.
KUBERNETES_VERSION = "v1.36.3"
KWOK_VERSION = "v0.8.0"
ETCD_VERSION = "v3.6.16"
PROMETHEUS_ADAPTER_VERSION = "v0.12.0"
INFERENCE_EXTENSION_VERSION = "v1.6.2"  # the lab's endpoint picker (hack/lwepp)

CACHE_DIR = Path(os.environ.get("MODELROLLOUT_CACHE", REPO_ROOT / ".cache"))
BIN_DIR = (
    CACHE_DIR / "bin" / f"kubernetes-{KUBERNETES_VERSION}-kwok-{KWOK_VERSION}-etcd-{ETCD_VERSION}"
)
CLUSTER_DIR = CACHE_DIR / "cluster"

# Which cluster the e2e suite runs against: "local" (started here),
# "existing" (the cluster $KUBECONFIG points at) or "kind" (pytest-kind, needs Docker).
CLUSTER_MODE_ENV = "MODELROLLOUT_E2E_CLUSTER"


def cluster_mode() -> str:
    return os.environ.get(CLUSTER_MODE_ENV, "local")
