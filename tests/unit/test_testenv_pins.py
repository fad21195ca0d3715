"""The versions that name the binaries' cache folder are the ones hack/*/go.mod pin: a
pin changed in one place only would reuse a binary built from the old one."""

from __future__ import annotations

import re

import pytest

from testenv import settings

PINS = [
    ("controlplane", "k8s.io/kubernetes", settings.KUBERNETES_VERSION),
    ("kwok", "sigs.k8s.io/kwok", settings.KWOK_VERSION),
    ("etcd", "go.etcd.io/etcd/server/v3", settings.ETCD_VERSION),
    ("prometheus-adapter", "sigs.k8s.io/prometheus-adapter", settings.PROMETHEUS_ADAPTER_VERSION),
    (
        "lwepp",
        "sigs.k8s.io/gateway-api-inference-extension",
        settings.INFERENCE_EXTENSION_VERSION,
    ),
    ("crds", "sigs.k8s.io/gateway-api-inference-extension", settings.INFERENCE_EXTENSION_VERSION),
]


@pytest.mark.parametrize(("folder", "module", "version"), PINS)
def test_the_cache_is_named_by_the_pinned_version(folder: str, module: str, version: str) -> None:
    go_mod = (settings.REPO_ROOT / "hack" / folder / "go.mod").read_text()
    pinned = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", go_mod, re.MULTILINE)
    assert pinned is not None, f"{module} is not required in hack/{folder}/go.mod"
    assert pinned[1] == version
