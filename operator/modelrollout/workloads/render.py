"""The Deployment of each revision and the stable/canary Services, rendered as plain objects.

Each model revision runs in its own Deployment whose pod template never changes after
creation; promotion only re-points Services and traffic, so no model pod restarts.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from modelrollout.api import inference_pool
from modelrollout.api.crd import GROUP, KIND, VERSION
from modelrollout.api.spec import ModelDeploymentSpec

LABEL_NAME = "modelrollout.io/name"
LABEL_REVISION = "modelrollout.io/revision"
LABEL_ROLE = "modelrollout.io/role"
ANNOTATION_VERSION = "modelrollout.io/version"
# The spec fields that made this revision, verbatim, so `undo` can restore them exactly.
ANNOTATION_SOURCE = "modelrollout.io/source"
# A digest of the body last applied to a Deployment or Service: an unchanged one is not
# re-applied.
ANNOTATION_APPLIED = "modelrollout.io/applied"
MAX_SOURCE_BYTES = 192 * 1024  # of ANNOTATION_SOURCE; the rest of 256 KiB for the others


def deployment_name(name: str, revision: str) -> str:
    return f"{name}-{revision}"


def service_name(name: str, role: str) -> str:
    return f"{name}-{role}"


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/managed-by": "modelrollout",
        LABEL_NAME: name,
    }


def _with_model_env(container: dict[str, Any], env: list[dict[str, str]]) -> dict[str, Any]:
    ours = {e["name"] for e in env}
    kept = [e for e in container.get("env") or [] if e.get("name") not in ours]
    return {**container, "env": kept + env}


def pod_labels(name: str, spec: ModelDeploymentSpec) -> dict[str, str]:
    """The labels every pod of every revision carries (the template's, and ours but
    the revision's), as far as the current spec says."""
    template_labels = (spec.template.get("metadata") or {}).get("labels") or {}
    return {**{str(k): str(v) for k, v in template_labels.items()}, **_labels(name)}


def pods_selector(name: str) -> str:
    """The label selector of every pod of every revision of a ModelDeployment."""
    return f"{LABEL_NAME}={name}"


def template_problem(template: Mapping[str, Any]) -> str | None:
    """Why the pod template cannot become a Deployment, or None. The CRD keeps the template
    free-form (a PodTemplateSpec's schema is the API server's to check, on the Deployment),
    so the shape rendering relies on is checked here, before anything is touched."""
    meta = template.get("metadata") or {}
    if not isinstance(meta, dict) or not all(
        isinstance(meta.get(key) or {}, dict) for key in ("labels", "annotations")
    ):
        return "spec.template.metadata must be a map, its labels and annotations maps"
    pod = template.get("spec")
    containers = pod.get("containers") if isinstance(pod, dict) else None
    if not isinstance(containers, list) or not containers:
        return "spec.template.spec.containers must be a non-empty list of containers"
    for index, container in enumerate(containers):
        if not isinstance(container, dict) or not isinstance(container.get("name"), str):
            return f"spec.template.spec.containers[{index}] must be a container with a name"
        if not isinstance(container.get("env") or [], list):
            return f"spec.template.spec.containers[{index}].env must be a list"
    return None


def record_problem(spec: ModelDeploymentSpec) -> str | None:
    """Why the spec's pod-shaping part cannot be recorded on its Deployment for undo (the
    API server refuses more than 256 KiB of annotations on an object, and every apply
    with them), or None. The CRD cannot bound the byte size of a free-form template, so
    it is checked here, before anything is applied."""
    size = len(source_annotation(spec).encode())
    if size > MAX_SOURCE_BYTES:
        return (
            f"spec.template is too large: its record for undo takes {size} bytes, at most "
            f"{MAX_SOURCE_BYTES} (Kubernetes holds 256 KiB of annotations per object)"
        )
    return None


def source_annotation(spec: ModelDeploymentSpec) -> str:
    return json.dumps(spec.shaping(), sort_keys=True)


def render_deployment(
    name: str, namespace: str, uid: str, spec: ModelDeploymentSpec, replicas: int
) -> dict[str, Any]:
    revision = spec.revision()
    selector = {LABEL_NAME: name, LABEL_REVISION: revision}
    template = copy.deepcopy(spec.template)
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **_labels(name), **selector}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        ANNOTATION_VERSION: spec.model.version,
    }
    env = [
        {"name": "MODEL_NAME", "value": name},
        {"name": "MODEL_VERSION", "value": spec.model.version},
        {"name": "MODEL_REVISION", "value": revision},
    ]
    if spec.model.uri:
        env.append({"name": "MODEL_URI", "value": spec.model.uri})
    pod = template.setdefault("spec", {})
    pod["containers"] = [_with_model_env(c, env) for c in pod.get("containers") or []]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(name, revision),
            "namespace": namespace,
            "labels": {**_labels(name), LABEL_REVISION: revision},
            "annotations": {
                ANNOTATION_VERSION: spec.model.version,
                ANNOTATION_SOURCE: source_annotation(spec),
            },
            "ownerReferences": [owner_reference(name, uid)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": template,
            "progressDeadlineSeconds": spec.progress_deadline_seconds,
            "revisionHistoryLimit": 1,
        },
    }


def render_service(
    name: str, namespace: str, uid: str, spec: ModelDeploymentSpec, role: str, revision: str
) -> dict[str, Any]:
    selector = {LABEL_NAME: name, LABEL_REVISION: revision}
    return _service(name, namespace, uid, spec, service_name(name, role), role, selector)


def _service(
    name: str,
    namespace: str,
    uid: str,
    spec: ModelDeploymentSpec,
    called: str,
    role: str,
    selector: dict[str, str],
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": called,
            "namespace": namespace,
            "labels": {**_labels(name), LABEL_ROLE: role},
            "ownerReferences": [owner_reference(name, uid)],
        },
        "spec": {
            "selector": selector,
            "ports": [
                {
                    "name": "http",
                    "port": spec.service.port,
                    "targetPort": spec.service.target_port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def render_traffic_service(
    name: str, namespace: str, uid: str, spec: ModelDeploymentSpec
) -> dict[str, Any] | None:
    """With traffic.replicaRatio and no Service of the user's: the Service named like
    the ModelDeployment, selecting the pods of every revision (each revision's share of
    its traffic is its share of the ready pods). None otherwise."""
    ratio = spec.traffic.replica_ratio if spec.traffic is not None else None
    if ratio is None or ratio.service is not None:
        return None
    return _service(name, namespace, uid, spec, name, "traffic", {LABEL_NAME: name})


def render_inference_pool(
    name: str, namespace: str, uid: str, spec: ModelDeploymentSpec, role: str, revision: str
) -> dict[str, Any] | None:
    """The InferencePool of one side, selecting the pods its Service selects (None when
    the route sends traffic to Services)."""
    pools = spec.inference_pools()
    if pools is None:
        return None
    picker = getattr(pools.endpoint_pickers, role)
    return {
        "apiVersion": f"{inference_pool.GROUP}/{inference_pool.VERSION}",
        "kind": inference_pool.KIND,
        "metadata": {
            "name": inference_pool.pool_name(name, role),
            "namespace": namespace,
            "labels": {**_labels(name), LABEL_ROLE: role},
            "ownerReferences": [owner_reference(name, uid)],
        },
        "spec": {
            "selector": {"matchLabels": {LABEL_NAME: name, LABEL_REVISION: revision}},
            "targetPorts": [{"number": port} for port in pools.target_ports],
            "appProtocol": pools.app_protocol,
            "endpointPickerRef": {
                "group": "",
                "kind": "Service",
                "name": picker.name,
                "port": {"number": picker.port},
                "failureMode": pools.failure_mode,
            },
        },
    }
