"""Deployments and Services in the cluster: apply (server-side), scale, delete; observed
from the caches (workloads.observed)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.engine.model import RevisionObservation
from modelrollout.workloads.apply import server_side_apply
from modelrollout.workloads.observed import Owned, observe_revisions
from modelrollout.workloads.render import (
    ANNOTATION_APPLIED,
    deployment_name,
    render_deployment,
    render_service,
)


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Workloads:
    """The workloads of one ModelDeployment, as last seen by the watch-fed caches (`owned`);
    every read is from there, and only the writes reach the API server."""

    def __init__(
        self, api: client.ApiClient, name: str, namespace: str, uid: str, owned: Owned
    ) -> None:
        self.api = api
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.name, self.namespace, self.uid = name, namespace, uid
        self.owned = owned

    def observe(self) -> dict[str, RevisionObservation]:
        return observe_revisions(self.name, self.owned)

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
        server_side_apply(
            self.api, f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}", body
        )

    def scale_revision(
        self, revision: str, replicas: int, observed: RevisionObservation | None
    ) -> None:
        """Scale through the scale subresource (the pod template is never touched), unless
        the Deployment already has this size, or is gone and should have none."""
        if (observed.replicas if observed is not None else 0) == replicas:
            return
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
        applied = self.owned.applied_services()
        for role, revision in (("stable", stable), ("canary", canary)):
            body = render_service(self.name, self.namespace, self.uid, spec, role, revision)
            name, digest = body["metadata"]["name"], _fingerprint(body)
            if applied.get(name) == digest:
                continue
            body["metadata"]["annotations"] = {ANNOTATION_APPLIED: digest}
            server_side_apply(
                self.api, f"/api/v1/namespaces/{self.namespace}/services/{name}", body
            )
