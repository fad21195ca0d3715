"""Observe -> decide -> record -> act: the only place that sequences the adapters and
the engine.

A decision is recorded before it is acted on (`reconcile` decides, the caller writes the
status, then `carry_out` acts). The status write is guarded by the resourceVersion the
decision was made on, so a decision made on a stale object is refused before it
touches anything; and a process that dies between the write and the actions leaves a
status whose desired state the next decision re-asserts, never an older one.

Bad input never changes what serves: a spec the models reject, a route that is missing,
not wired to our Services or unable to do what the spec asks, or unusable credentials
become an InvalidSpec condition and an Event, and no workload or route is touched.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, assert_never

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modelrollout.api.names import NAME_RULE
from modelrollout.api.spec import Analysis, ModelDeploymentSpec, Traffic
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.api.vocabulary import REQUEST_ANNOTATION, ConditionType, Reason
from modelrollout.engine.conditions import condition, set_condition
from modelrollout.engine.desired import route_features
from modelrollout.engine.model import (
    REQUEST_ACTIONS,
    Action,
    ApplyRevision,
    DeleteRevision,
    Emit,
    Observations,
    PointServices,
    Request,
    RevisionObservation,
    RouteState,
    ScaleRevision,
    SetRoute,
)
from modelrollout.engine.promotion import route_state
from modelrollout.engine.rollout import decide
from modelrollout.metrics.provider import MetricsProvider, ProviderConfigError
from modelrollout.metrics.reads import judge_look, measurements
from modelrollout.metrics.registry import credentials_secret, provider_for
from modelrollout.routing.gateway_api import RouteLookup, api_message
from modelrollout.routing.registry import router_for
from modelrollout.routing.router import RouteConflict, RouteError, Router, require_features
from modelrollout.workloads.cluster import Workloads
from modelrollout.workloads.observed import Owned
from modelrollout.workloads.render import service_name, template_problem


class InvalidSpec(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class WorkloadsPort(Protocol):
    """The workloads of one ModelDeployment (workloads.cluster.Workloads, or a fake)."""

    def observe(self) -> dict[str, RevisionObservation]: ...
    def apply_revision(
        self, spec: ModelDeploymentSpec, replicas: int, observed: RevisionObservation | None
    ) -> None: ...
    def scale_revision(
        self, revision: str, replicas: int, observed: RevisionObservation | None
    ) -> None: ...
    def delete_revision(self, revision: str) -> None: ...
    def point_services(self, spec: ModelDeploymentSpec, stable: str, canary: str) -> None: ...


@dataclass(frozen=True)
class Adapters:
    """How the reconciler reaches the outside world, one factory per port."""

    # (name, namespace, uid) -> workloads
    workloads: Callable[[str, str, str], WorkloadsPort]
    # (traffic, namespace, stable Service, canary Service) -> router
    router: Callable[[Traffic | None, str, str, str], Router]
    # (analysis, namespace) -> provider; raises InvalidSpec for unusable credentials
    provider: Callable[[Analysis, str], MetricsProvider]


def cluster_adapters(api: client.ApiClient, owned: Owned, routes: RouteLookup | None) -> Adapters:
    """Adapters for one reconcile, reading what the caches hold (`owned`, `routes`)."""
    return Adapters(
        workloads=lambda name, namespace, uid: Workloads(api, name, namespace, uid, owned),
        router=lambda traffic, namespace, stable, canary: router_for(
            traffic, api, routes, namespace, stable, canary
        ),
        provider=lambda analysis, namespace: _provider(api, analysis, namespace),
    )


@dataclass(frozen=True)
class Plan:
    """A decision's actions, and what carrying them out needs."""

    actions: tuple[Action, ...]
    spec: ModelDeploymentSpec
    workloads: WorkloadsPort
    router: Router
    obs: Observations
    generation: int | None


@dataclass(frozen=True)
class Result:
    previous: ModelDeploymentStatus  # as read from the object
    status: ModelDeploymentStatus  # as decided
    events: list[Emit]
    measurements: tuple[Measurement, ...] | None = None
    failed: bool = False  # the reconcile could not finish (ReconcileError)
    conflict: bool = False  # an action found the world moved since: decide again
    invalid: bool = False  # InvalidSpec: nothing to act on
    next_due: datetime | None = None  # when a decision is due if nothing changes
    plan: Plan | None = None  # to carry out once `status` is written


def reconcile(adapters: Adapters, body: Mapping[str, Any], now: datetime) -> Result:
    """One decision, not yet acted on. Whatever an adapter raises, a Result comes back:
    bad input as InvalidSpec, anything else as ReconcileError with the status as it was
    (the next reconcile decides again from it: level-triggered)."""
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    generation = meta.get("generation")
    status = ModelDeploymentStatus.model_validate(body.get("status") or {})
    doing = "reading the spec"
    try:
        if not NAME_RULE.holds(name):  # created before the CRD refused such names
            raise InvalidSpec(Reason.INVALID_SPEC, NAME_RULE.message)
        spec = _parse_spec(body.get("spec") or {})
        doing = "checking the route"
        router = adapters.router(
            spec.traffic, namespace, service_name(name, "stable"), service_name(name, "canary")
        )
        needed = route_features(spec)
        require_features(router, needed)
        router.check(needed)
        route_carried = router.carries(route_state(status))
        route_empty_filters = router.empty_filter_lists()
        doing = "observing the Deployments"
        workloads = adapters.workloads(name, namespace, uid)
        revisions = workloads.observe()
        doing = "measuring"

        def read(analysis: Analysis) -> MetricsProvider:
            return adapters.provider(analysis, namespace)

        obs = Observations(
            revisions=revisions,
            measurements=measurements(read, spec, status, namespace, name, now),
            request=parse_request(meta.get("annotations") or {}),
            judge=judge_look(read, spec, status, namespace, name, now),
            route_carried=route_carried,
            route_empty_filters=route_empty_filters,
        )
        doing = "deciding"
        decision = decide(spec, generation, status, obs, now)
    except (InvalidSpec, RouteError) as bad:
        return _invalid(status, generation, bad.reason, bad.message, now)
    except Exception as exc:  # the loop must go on; the error goes into status and events
        return failed(status, generation, f"{doing}: {_error_text(exc)}", now)
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
    plan = Plan(decision.actions, spec, workloads, router, obs, generation)
    return Result(status, new, events, obs.measurements, next_due=decision.next_due, plan=plan)


def carry_out(result: Result, now: datetime) -> Result | None:
    """Act on a recorded decision. Returns a status to record afterwards, if any: the
    decided one with ReconcileError saying which action failed (the next reconcile
    re-asserts the same desired state), or with ReconcileError cleared once the actions
    succeed again."""
    plan = result.plan
    if plan is None:
        return None
    for action in plan.actions:
        try:
            _act(action, plan.spec, plan.workloads, plan.router, plan.obs)
        except RouteConflict:  # not an error: the next decision is made on the newest
            return Result(result.status, result.status, [], conflict=True)
        except Exception as exc:  # the loop goes on; the error goes into status and events
            text = exc.message if isinstance(exc, RouteError) else _error_text(exc)
            return failed(result.status, plan.generation, f"{describe(action)}: {text}", now)
    error = condition(result.status.conditions, ConditionType.RECONCILE_ERROR)
    if error is None or error.status != "True":
        return None
    recovered = result.status.model_copy(deep=True)
    recovered.conditions = set_condition(
        recovered.conditions,
        ConditionType.RECONCILE_ERROR,
        False,
        Reason.RECONCILED,
        "",
        plan.generation,
        now,
    )
    return Result(result.status, recovered, [])


def release_route(adapters: Adapters, body: Mapping[str, Any]) -> str:
    """A ModelDeployment deleted mid-rollout: take what we added off its route (a
    mirror, a header route, the canary's weight), so the route is its owner's again.
    Returns what was done, in words. The adapters read the route from the API server:
    a conflict (its owner edited it meanwhile) is tried again on the newest copy."""
    meta = body["metadata"]
    try:
        spec = _parse_spec(body.get("spec") or {})
    except InvalidSpec:
        return "nothing to release: the spec was never valid"
    name, namespace = meta["name"], meta["namespace"]
    status = ModelDeploymentStatus.model_validate(body.get("status") or {})
    released = RouteState(0, empty_filters=tuple(status.route_empty_filters))
    for _ in range(3):
        router = adapters.router(
            spec.traffic, namespace, service_name(name, "stable"), service_name(name, "canary")
        )
        try:
            router.check({})
            router.apply(released)
        except RouteError as exc:
            return f"nothing to release: {exc.message}"
        except RouteConflict:
            continue
        return f"{router.name} released ({released.describe()})"
    return "route not released: it kept changing under us"


def _parse_spec(raw: Mapping[str, Any]) -> ModelDeploymentSpec:
    try:
        spec = ModelDeploymentSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidSpec(Reason.INVALID_SPEC, f"spec is invalid: {problems}") from exc
    problem = template_problem(spec.template)
    if problem is not None:
        raise InvalidSpec(Reason.INVALID_SPEC, f"spec is invalid: {problem}")
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


def _provider(api: client.ApiClient, analysis: Analysis, namespace: str) -> MetricsProvider:
    ref = credentials_secret(analysis)
    secret = None
    if ref is not None:
        try:
            found = client.CoreV1Api(api).read_namespaced_secret(ref.name, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                raise InvalidSpec(
                    Reason.INVALID_SPEC,
                    f"Secret {namespace}/{ref.name} for the metrics provider's credentials "
                    f"cannot be read ({exc.status} {exc.reason})",
                ) from exc
            raise
        secret = {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}
    try:
        return provider_for(analysis, secret)
    except ProviderConfigError as exc:
        raise InvalidSpec(
            Reason.INVALID_SPEC, f"Secret {namespace}/{ref.name if ref else '?'}: {exc}"
        ) from exc


def _act(
    action: Action,
    spec: ModelDeploymentSpec,
    workloads: WorkloadsPort,
    router: Router,
    obs: Observations,
) -> None:
    match action:
        case ApplyRevision(revision, replicas):
            workloads.apply_revision(spec, replicas, obs.revisions.get(revision))
        case ScaleRevision(revision, replicas):
            workloads.scale_revision(revision, replicas, obs.revisions.get(revision))
        case PointServices(stable, canary):
            workloads.point_services(spec, stable, canary)
        case SetRoute(state):
            router.apply(state)
        case DeleteRevision(revision):
            workloads.delete_revision(revision)
        case Emit():
            pass  # the handler posts events once the status is written
        case _:
            assert_never(action)


def describe(action: Action) -> str:
    match action:
        case ApplyRevision(revision, replicas) | ScaleRevision(revision, replicas):
            return f"sizing revision {revision} to {replicas} pods"
        case PointServices(stable, canary):
            return f"pointing the Services at {stable} (stable) and {canary} (canary)"
        case SetRoute(state):
            return f"setting the route ({state.describe()})"
        case DeleteRevision(revision):
            return f"deleting revision {revision}"
        case Emit():
            return "recording an event"
        case _:
            assert_never(action)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        said = f"the API server answered {exc.status} {exc.reason}"
        message = api_message(exc)
        return f"{said}: {message}" if message else said
    return f"{type(exc).__name__}: {exc}"


def failed(
    status: ModelDeploymentStatus, generation: int | None, message: str, now: datetime
) -> Result:
    """`status` with ReconcileError saying what failed (an Event when new)."""
    before = condition(status.conditions, ConditionType.RECONCILE_ERROR)
    new = status.model_copy(deep=True)
    new.conditions = set_condition(
        new.conditions,
        ConditionType.RECONCILE_ERROR,
        True,
        Reason.RECONCILE_FAILED,
        message,
        generation,
        now,
    )
    changed = before is None or before.status != "True" or before.message != message
    events = [Emit("Warning", Reason.RECONCILE_FAILED, message)] if changed else []
    return Result(status, new, events, failed=True)


def _invalid(
    status: ModelDeploymentStatus, generation: int | None, reason: str, message: str, now: datetime
) -> Result:
    before = condition(status.conditions, ConditionType.INVALID_SPEC)
    new = status.model_copy(deep=True)
    new.conditions = set_condition(
        new.conditions, ConditionType.INVALID_SPEC, True, reason, message, generation, now
    )
    new.message = message
    new.observed_generation = generation
    changed = before is None or before.status != "True" or before.message != message
    events = [Emit("Warning", reason, message)] if changed else []
    return Result(status, new, events, invalid=True)
