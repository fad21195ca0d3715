"""What the watch-fed caches keep of the objects a ModelDeployment owns, and what the
engine is told about its revisions.

A cache holds a small summary per object (not the whole body: at a thousand
ModelDeployments the memory is in the bodies), keyed by the owning ModelDeployment.
Each summary is built once per watch event and never changed afterwards.

The label finds candidates; only the controller reference makes an object ours. Anyone
who may create Deployments can label one `modelrollout.io/name: X`: such an object is
never a revision of X, never scaled, never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelrollout.engine.model import RevisionObservation
from modelrollout.workloads.render import (
    ANNOTATION_APPLIED,
    LABEL_NAME,
    LABEL_REVISION,
    deployment_name,
    service_name,
)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set on an EndpointSlice by Kubernetes
ROLES = ("stable", "canary")


def owner_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, ModelDeployment name) of an object we label as ours; EndpointSlices
    carry their Service's labels, so the same label finds them."""
    meta = body.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(LABEL_NAME)
    return (meta.get("namespace") or "", owner) if owner else None


def controller_uid(meta: Mapping[str, Any]) -> str | None:
    """The UID of the object's controller (its ownerReference with controller: true)."""
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None


def summarize_deployment(body: Mapping[str, Any]) -> dict[str, Any]:
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    return {
        "name": meta["name"],
        "uid": meta.get("uid"),
        "owner": controller_uid(meta),
        "revision": (meta.get("labels") or {}).get(LABEL_REVISION),
        "deleting": meta.get("deletionTimestamp") is not None,
        "replicas": spec.get("replicas") or 0,
        "ready": status.get("readyReplicas") or 0,
        # Terminating pods still hold their GPUs (terminatingReplicas: Kubernetes 1.35+).
        "pods": max(
            spec.get("replicas") or 0,
            (status.get("replicas") or 0) + (status.get("terminatingReplicas") or 0),
        ),
        "applied": (meta.get("annotations") or {}).get(ANNOTATION_APPLIED),
    }


def summarize_service(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Service or an InferencePool: whose it is and the body last applied to it."""
    meta = body["metadata"]
    return {
        "name": meta["name"],
        "uid": meta.get("uid"),
        "owner": controller_uid(meta),
        "applied": (meta.get("annotations") or {}).get(ANNOTATION_APPLIED),
    }


def summarize_endpoint_slice(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Service it belongs to and the pods among its ready endpoints."""
    pods = []
    for endpoint in body.get("endpoints") or []:
        ref, conditions = endpoint.get("targetRef") or {}, endpoint.get("conditions") or {}
        ready = conditions.get("ready") is not False  # nil means ready
        if ready and ref.get("kind") == "Pod" and ref.get("name"):
            pods.append(ref["name"])
    labels = body["metadata"].get("labels") or {}
    return {
        "service": labels.get(SERVICE_NAME_LABEL, ""),
        "owner": controller_uid(body["metadata"]),  # the Service, for the controller's
        "pods": tuple(pods),
    }


@dataclass(frozen=True)
class Owned:
    """Summaries of the Deployments, Services, EndpointSlices and InferencePools labelled
    as one ModelDeployment's; `of(uid)` keeps those it controls."""

    deployments: tuple[Mapping[str, Any], ...] = ()
    services: tuple[Mapping[str, Any], ...] = ()
    endpoint_slices: tuple[Mapping[str, Any], ...] = ()
    pools: tuple[Mapping[str, Any], ...] = ()
    pools_watched: bool = True  # InferencePools were served when the operator started

    def of(self, uid: str) -> Owned:
        """Only what the ModelDeployment with this UID controls (its Services' slices
        are controlled by the Services)."""
        services = tuple(svc for svc in self.services if svc["owner"] == uid)
        ours = {svc["uid"] for svc in services}
        return Owned(
            tuple(dep for dep in self.deployments if dep["owner"] == uid),
            services,
            tuple(piece for piece in self.endpoint_slices if piece["owner"] in ours),
            tuple(pool for pool in self.pools if pool["owner"] == uid),
            self.pools_watched,
        )

    def applied(self) -> dict[tuple[str, str], str | None]:
        """(kind, name) of each Service and InferencePool -> the digest of the body last
        applied to it."""
        return {
            **{("Service", svc["name"]): svc["applied"] for svc in self.services},
            **{("InferencePool", pool["name"]): pool["applied"] for pool in self.pools},
        }

    def deployment_uid(self, name: str) -> str | None:
        return next((dep["uid"] for dep in self.deployments if dep["name"] == name), None)

    def names(self) -> set[tuple[str, str]]:
        """(kind, name) of each object (a Service and a pool share a name)."""
        return {("Deployment", dep["name"]) for dep in self.deployments} | self.applied().keys()


def observe_revisions(name: str, owned: Owned) -> dict[str, RevisionObservation]:
    """Per revision (of what `owned` holds: filter it with Owned.of first): its size,
    its pods that are ready endpoints of our Services (a pod counts as ready only once a
    Service routes to it), and which Services serve it."""
    roles = {service_name(name, role): role for role in ROLES}
    endpoints = {
        (roles[piece["service"]], pod)
        for piece in owned.endpoint_slices
        if piece["service"] in roles
        for pod in piece["pods"]
    }
    revisions: dict[str, RevisionObservation] = {}
    for dep in owned.deployments:
        revision = dep["revision"]
        if revision is None or dep["deleting"]:
            continue
        prefix = f"{deployment_name(name, revision)}-"  # its pods' names
        behind = {(role, pod) for role, pod in endpoints if pod.startswith(prefix)}
        revisions[revision] = RevisionObservation(
            dep["replicas"],
            min(dep["ready"], len({pod for _, pod in behind})),
            dep["applied"],
            frozenset(role for role, _ in behind),
            dep["pods"],
        )
    return revisions
