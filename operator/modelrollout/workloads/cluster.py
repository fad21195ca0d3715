"""Deployments, Services and InferencePools in the cluster: apply (server-side), scale,
delete; observed from the caches (workloads.observed).

Only what this ModelDeployment controls (by UID) is ever written. A name it needs that
another object already holds is found before anything is applied (`foreign`), and
the rollout stops there with the object untouched: a server-side apply with force would
otherwise take over a Helm-made `api-stable` Service, and its garbage collection with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api import inference_pool
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.engine.model import RevisionObservation
from modelrollout.workloads.apply import server_side_apply
from modelrollout.workloads.observed import Owned, observe_revisions
from modelrollout.workloads.render import (
    ANNOTATION_APPLIED,
    deployment_name,
    render_deployment,
    render_inference_pool,
    render_service,
    render_traffic_service,
    service_name,
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
        self.custom = client.CustomObjectsApi(api)
        self.name, self.namespace, self.uid = name, namespace, uid
        self.owned = owned.of(uid)

    def observe(self) -> dict[str, RevisionObservation]:
        return observe_revisions(self.name, self.owned)

    def foreign(self, spec: ModelDeploymentSpec) -> str | None:
        """What holds a name this ModelDeployment needs and is not its own, in words; None
        when every name is free or ours. Reads only names the caches do not hold as ours
        (on creation, or while blocked)."""
        needed: list[tuple[str, str, Callable[[str, str], Any]]] = [
            ("Service", service_name(self.name, "stable"), self.core.read_namespaced_service),
            ("Service", service_name(self.name, "canary"), self.core.read_namespaced_service),
            (
                "Deployment",
                deployment_name(self.name, spec.revision()),
                self.apps.read_namespaced_deployment,
            ),
        ]
        if render_traffic_service(self.name, self.namespace, self.uid, spec) is not None:
            needed.append(("Service", self.name, self.core.read_namespaced_service))
        if spec.inference_pools() is not None:
            if not self.owned.pools_watched:
                return (
                    f"{inference_pool.PLURAL}.{inference_pool.GROUP}/{inference_pool.VERSION} "
                    "was not served when the operator started: install the Gateway API "
                    "Inference Extension's InferencePool CRD, then restart the operator"
                )
            needed += [
                (inference_pool.KIND, inference_pool.pool_name(self.name, role), self._read_pool)
                for role in ("stable", "canary")
            ]
        ours = self.owned.names()
        for kind, name, read in needed:
            if (kind, name) in ours:
                continue
            try:
                found = self._as_dict(read(name, self.namespace))
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            meta = found.get("metadata") or {}
            refs = meta.get("ownerReferences") or []
            controller = next((ref for ref in refs if ref.get("controller")), None)
            if controller is None or controller.get("uid") != self.uid:
                return (
                    f"{kind} {self.namespace}/{name} already exists and is not this "
                    f"ModelDeployment's ({_whose(controller, meta.get('labels'))}): left "
                    "as it is. Remove or rename it, or give the ModelDeployment another name"
                )
        return None

    def _as_dict(self, found: Any) -> dict[str, Any]:
        """A typed client's object (a Service) or a custom object, as plain JSON."""
        plain: dict[str, Any] = self.api.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
        return plain

    def _read_pool(self, name: str, namespace: str) -> Any:
        return self.custom.get_namespaced_custom_object(
            inference_pool.GROUP, inference_pool.VERSION, namespace, inference_pool.PLURAL, name
        )

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
        the Deployment already has this size, or is not ours (gone, or never ours)."""
        if observed is None or observed.replicas == replicas:
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
        """Delete our Deployment of `revision`, by UID: never one that took its name since."""
        name = deployment_name(self.name, revision)
        uid = self.owned.deployment_uid(name)
        if uid is None:
            return  # not ours, or gone already
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            self.apps.delete_namespaced_deployment(name, self.namespace, body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):  # 409: the UID differs, so not ours
                raise

    def point_services(self, spec: ModelDeploymentSpec, stable: str, canary: str) -> None:
        """Server-side apply each Service (and InferencePool, when the route sends
        traffic to pools; and with replicaRatio the Service of every pod) whose observed
        body differs (an idle decision re-asserts them all and writes nothing). A side's
        pool follows its Service: both select the same revision's pods."""
        applied = self.owned.applied()
        pools = f"/apis/{inference_pool.GROUP}/{inference_pool.VERSION}"
        services = f"/api/v1/namespaces/{self.namespace}/services"
        every_pod = render_traffic_service(self.name, self.namespace, self.uid, spec)
        if every_pod is not None:
            self._apply(applied, every_pod, services)
        for role, revision in (("stable", stable), ("canary", canary)):
            args = (self.name, self.namespace, self.uid, spec, role, revision)
            service, pool = render_service(*args), render_inference_pool(*args)
            self._apply(applied, service, services)
            if pool is not None:
                self._apply(
                    applied, pool, f"{pools}/namespaces/{self.namespace}/{inference_pool.PLURAL}"
                )

    def _apply(
        self, applied: dict[tuple[str, str], str | None], body: dict[str, Any], collection: str
    ) -> None:
        name, digest = body["metadata"]["name"], _fingerprint(body)
        if applied.get((body["kind"], name)) == digest:
            return
        body["metadata"]["annotations"] = {ANNOTATION_APPLIED: digest}
        server_side_apply(self.api, f"{collection}/{name}", body)


def _whose(controller: dict[str, Any] | None, labels: dict[str, str] | None) -> str:
    if controller is not None:
        return f"its controller is {controller.get('kind')} {controller.get('name')}"
    managed = (labels or {}).get("app.kubernetes.io/managed-by")
    return f"managed by {managed}, no controller" if managed else "it has no controller"
