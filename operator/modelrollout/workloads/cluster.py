"""Deployments and Services in the cluster: apply (server-side), scale, delete, observe."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.vocabulary import FIELD_MANAGER
from modelrollout.engine.model import RevisionObservation
from modelrollout.workloads.render import (
    ANNOTATION_APPLIED,
    LABEL_NAME,
    LABEL_REVISION,
    deployment_name,
    render_deployment,
    render_service,
    service_name,
)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set on an EndpointSlice by Kubernetes

_APPLY: dict[str, Any] = {
    "field_manager": FIELD_MANAGER,
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Workloads:
    """The workloads of one ModelDeployment."""

    def __init__(self, api: client.ApiClient, name: str, namespace: str, uid: str) -> None:
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.name, self.namespace, self.uid = name, namespace, uid
        self._services_applied: dict[str, str] = {}  # Service -> digest, as observed

    def observe(self) -> dict[str, RevisionObservation]:
        found = self.apps.list_namespaced_deployment(
            self.namespace, label_selector=f"{LABEL_NAME}={self.name}"
        )
        endpoints = self._ready_endpoints()
        services = self.core.list_namespaced_service(
            self.namespace, label_selector=f"{LABEL_NAME}={self.name}"
        )
        self._services_applied = {
            svc.metadata.name: (svc.metadata.annotations or {}).get(ANNOTATION_APPLIED, "")
            for svc in services.items
            if svc.metadata is not None and svc.metadata.name
        }
        revisions: dict[str, RevisionObservation] = {}
        for dep in found.items:
            meta = dep.metadata or client.V1ObjectMeta()
            revision = (meta.labels or {}).get(LABEL_REVISION)
            if revision is None or meta.deletion_timestamp is not None:
                continue
            replicas = dep.spec.replicas if dep.spec and dep.spec.replicas is not None else 0
            ready = (dep.status.ready_replicas or 0) if dep.status else 0
            prefix = f"{deployment_name(self.name, revision)}-"  # its pods' names
            behind = {(role, pod) for role, pod in endpoints if pod.startswith(prefix)}
            pods = {pod for _, pod in behind}
            revisions[revision] = RevisionObservation(
                replicas,
                min(ready, len(pods)),
                (meta.annotations or {}).get(ANNOTATION_APPLIED),
                frozenset(role for role, _ in behind),
            )
        return revisions

    def _ready_endpoints(self) -> set[tuple[str, str]]:
        """(Service role, pod name) for every ready endpoint of our two Services."""
        roles = {service_name(self.name, role): role for role in ("stable", "canary")}
        slices = self.discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"{SERVICE_NAME_LABEL} in ({','.join(roles)})"
        )
        found = set()
        for piece in slices.items:
            role = roles.get(
                ((piece.metadata and piece.metadata.labels) or {}).get(SERVICE_NAME_LABEL, "")
            )
            for endpoint in piece.endpoints or []:
                ref, conditions = endpoint.target_ref, endpoint.conditions
                ready = conditions is None or conditions.ready is not False  # nil means ready
                if role and ready and ref is not None and ref.kind == "Pod" and ref.name:
                    found.add((role, ref.name))
        return found

    def apply_revision(
        self, spec: ModelDeploymentSpec, replicas: int, observed: RevisionObservation | None
    ) -> None:
        """Server-side apply, unless the Deployment already holds this body at this size
        (a decision re-asserts every revision; an unchanged one needs no write)."""
        body = render_deployment(self.name, self.namespace, self.uid, spec, replicas)
        digest = _fingerprint(body)
        if observed is not None and (observed.replicas, observed.applied) == (replicas, digest):
            return
        body["metadata"].setdefault("annotations", {})[ANNOTATION_APPLIED] = digest
        name = body["metadata"]["name"]
        self.apps.patch_namespaced_deployment(name, self.namespace, body, **_APPLY)

    def scale_revision(self, revision: str, replicas: int) -> None:
        """Scale through the scale subresource: the pod template is never touched."""
        body: dict[str, Any] = {"spec": {"replicas": replicas}}
        try:
            self.apps.patch_namespaced_deployment_scale(
                deployment_name(self.name, revision), self.namespace, body
            )
        except ApiException as exc:
            if exc.status != 404 or replicas > 0:
                raise

    def delete_revision(self, revision: str) -> None:
        try:
            self.apps.delete_namespaced_deployment(
                deployment_name(self.name, revision), self.namespace
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def point_services(self, spec: ModelDeploymentSpec, stable: str, canary: str) -> None:
        """Server-side apply each Service whose observed body differs (an idle decision
        re-asserts both and writes nothing)."""
        for role, revision in (("stable", stable), ("canary", canary)):
            body = render_service(self.name, self.namespace, self.uid, spec, role, revision)
            name, digest = body["metadata"]["name"], _fingerprint(body)
            if self._services_applied.get(name) == digest:
                continue
            body["metadata"]["annotations"] = {ANNOTATION_APPLIED: digest}
            self.core.patch_namespaced_service(name, self.namespace, body, **_APPLY)
