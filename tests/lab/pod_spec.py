"""LAB-ONLY: what the lab's kubelet reads from a pod, as a kubelet (and Prometheus's
Kubernetes discovery) would: its container's env, its readiness path, the labels a
discovered target gets."""

from __future__ import annotations

import datetime
from typing import Any


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_env(pod: Any, container: Any) -> dict[str, str]:
    """The container's env as a kubelet resolves it (values and metadata fieldRefs)."""
    fields = {
        "metadata.name": pod.metadata.name,
        "metadata.namespace": pod.metadata.namespace,
        "metadata.uid": pod.metadata.uid,
    }
    env: dict[str, str] = {}
    for var in container.env or []:
        if var.value is not None:
            env[var.name] = var.value
        elif var.value_from is not None and var.value_from.field_ref is not None:
            env[var.name] = fields.get(var.value_from.field_ref.field_path, "")
    return env


def discovered(pod: Any) -> dict[str, str]:
    """The labels Prometheus's Kubernetes discovery (role: pod) gives a pod's target."""

    def name(key: str) -> str:
        return "".join(c if c.isalnum() else "_" for c in key)

    meta = pod.metadata
    found = {"__meta_kubernetes_namespace": meta.namespace, "__meta_kubernetes_pod_name": meta.name}
    found |= {f"__meta_kubernetes_pod_label_{name(k)}": v for k, v in (meta.labels or {}).items()}
    annotations = meta.annotations or {}
    return found | {
        f"__meta_kubernetes_pod_annotation_{name(k)}": v for k, v in annotations.items()
    }


def readiness_path(container: Any) -> str:
    probe = container.readiness_probe
    if probe is not None and probe.http_get is not None and probe.http_get.path:
        return str(probe.http_get.path)
    return "/ready"
