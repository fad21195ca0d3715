"""Observe -> decide -> act: the only place that sequences the adapters and the engine.

Bad input never changes what serves: a spec the models reject, a route that is missing
or not wired to our Services, or a missing Secret becomes an InvalidSpec condition and
an Event, and no workload or weight is touched.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.api.vocabulary import REQUEST_ANNOTATION, ConditionType, Reason
from modelrollout.engine.analysis import analysis_due, analysis_target
from modelrollout.engine.conditions import condition, set_condition
from modelrollout.engine.model import (
    REQUEST_ACTIONS,
    ApplyRevision,
    DeleteRevision,
    Emit,
    Observations,
    PointServices,
    Request,
    ScaleRevision,
    SetWeight,
)
from modelrollout.engine.rollout import decide
from modelrollout.metrics.prometheus import Credentials
from modelrollout.metrics.provider import measure
from modelrollout.metrics.queries import Target
from modelrollout.metrics.registry import provider_for
from modelrollout.routing.registry import router_for
from modelrollout.routing.router import RouteError, Router
from modelrollout.workloads.cluster import Workloads
from modelrollout.workloads.render import service_name


class InvalidSpec(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Result:
    status: dict[str, Any]
    events: list[Emit]
    measurements: tuple[Measurement, ...] | None = None


def reconcile(api: client.ApiClient, body: Mapping[str, Any], now: datetime) -> Result:
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    generation = meta.get("generation")
    status = ModelDeploymentStatus.model_validate(body.get("status") or {})
    try:
        spec = _parse_spec(body.get("spec") or {})
        router = router_for(
            spec.traffic, api, namespace, service_name(name, "stable"), service_name(name, "canary")
        )
        router.check()
        workloads = Workloads(api, name, namespace, uid)
        obs = Observations(
            revisions=workloads.observe(),
            measurements=_measure(api, spec, status, namespace, name, now),
            request=parse_request(meta.get("annotations") or {}),
        )
        decision = decide(spec, generation, status, obs, now)
        _act(decision.actions, spec, workloads, router, obs)
    except (InvalidSpec, RouteError) as bad:
        return _invalid(status, generation, bad.reason, bad.message, now)
    new = decision.status
    new.conditions = set_condition(
        new.conditions, ConditionType.INVALID_SPEC, False, Reason.SPEC_VALID, "", generation, now
    )
    events = decision.events()
    unknown = (meta.get("annotations") or {}).get(REQUEST_ANNOTATION)
    if unknown and obs.request is None and unknown != status.handled_request:
        new.handled_request = unknown  # said once, not every tick
        events.append(
            Emit(
                "Warning",
                "RequestInvalid",
                f"{REQUEST_ANNOTATION}={unknown!r}: expected ACTION:ID with ACTION one of "
                f"{', '.join(REQUEST_ACTIONS)}",
            )
        )
    return Result(new.wire(), events, obs.measurements)


def _parse_spec(raw: Mapping[str, Any]) -> ModelDeploymentSpec:
    try:
        spec = ModelDeploymentSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidSpec(Reason.INVALID_SPEC, f"spec is invalid: {problems}") from exc
    return spec


def parse_request(annotations: Mapping[str, str]) -> Request | None:
    """`modelrollout.io/request: <action>:<unique id>`; the whole value is consumed once."""
    value = annotations.get(REQUEST_ANNOTATION)
    if not value:
        return None
    action = value.split(":", 1)[0]
    for known in REQUEST_ACTIONS:
        if action == known:
            return Request(known, value)
    return None


def _measure(
    api: client.ApiClient,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> tuple[Any, ...] | None:
    analysis, judged = spec.analysis, analysis_target(status)
    if analysis is None or judged is None or not analysis_due(spec, status, now):
        return None
    provider = provider_for(analysis, _credentials(api, spec, namespace))
    target = Target(namespace, name, judged.version, judged.revision, analysis.window_delta())
    return measure(provider, analysis, target, now)


def _credentials(
    api: client.ApiClient, spec: ModelDeploymentSpec, namespace: str
) -> Credentials | None:
    assert spec.analysis is not None
    ref = spec.analysis.prometheus.auth_secret_ref
    if ref is None:
        return None
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(ref.name, namespace)
    except ApiException as exc:
        if exc.status in (403, 404):
            raise InvalidSpec(
                Reason.INVALID_SPEC,
                f"Secret {namespace}/{ref.name} for Prometheus credentials cannot be read "
                f"({exc.status} {exc.reason})",
            ) from exc
        raise
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    if "token" not in data and "username" not in data:
        raise InvalidSpec(
            Reason.INVALID_SPEC,
            f"Secret {namespace}/{ref.name} has neither `token` nor `username`/`password`",
        )
    return Credentials(data.get("token"), data.get("username"), data.get("password"))


def _act(
    actions: tuple[Any, ...],
    spec: ModelDeploymentSpec,
    workloads: Workloads,
    router: Router,
    obs: Observations,
) -> None:
    for action in actions:
        if isinstance(action, ApplyRevision):
            workloads.apply_revision(spec, action.replicas, obs.revisions.get(action.revision))
        elif isinstance(action, ScaleRevision):
            workloads.scale_revision(action.revision, action.replicas)
        elif isinstance(action, PointServices):
            workloads.point_services(spec, action.stable, action.canary)
        elif isinstance(action, SetWeight):
            router.set_weight(action.canary)
        elif isinstance(action, DeleteRevision):
            workloads.delete_revision(action.revision)


def _invalid(
    status: ModelDeploymentStatus, generation: int | None, reason: str, message: str, now: datetime
) -> Result:
    previous = condition(status.conditions, ConditionType.INVALID_SPEC)
    status.conditions = set_condition(
        status.conditions, ConditionType.INVALID_SPEC, True, reason, message, generation, now
    )
    status.message = message
    status.observed_generation = generation
    changed = previous is None or previous.status != "True" or previous.message != message
    events = [Emit("Warning", reason, message)] if changed else []
    return Result(status.wire(), events)
