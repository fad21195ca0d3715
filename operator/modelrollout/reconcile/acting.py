"""Act on a recorded decision, in the plan's order, and release the route of a
ModelDeployment that is deleted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, assert_never

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import ConditionType, Reason
from modelrollout.engine.conditions import condition, set_condition
from modelrollout.engine.model import (
    Action,
    ApplyRevision,
    DeleteRevision,
    Emit,
    Observations,
    PointServices,
    RouteState,
    ScaleRevision,
    SetRoute,
)
from modelrollout.reconcile.deciding import error_text, failed, parse_spec
from modelrollout.reconcile.ports import Adapters, InvalidSpec, Result, WorkloadsPort
from modelrollout.routing.router import RouteConflict, RouteError, Router


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
            text = exc.message if isinstance(exc, RouteError) else error_text(exc)
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
        spec = parse_spec(body.get("spec") or {})
    except InvalidSpec:
        return "nothing to release: the spec was never valid"
    name, namespace = meta["name"], meta["namespace"]
    status = ModelDeploymentStatus.model_validate(body.get("status") or {})
    released = RouteState(0, empty_filters=tuple(status.route_empty_filters))
    for _ in range(3):
        router = adapters.router(spec, namespace, name)
        try:
            router.check({})
            router.apply(released)
        except RouteError as exc:
            return f"nothing to release: {exc.message}"
        except RouteConflict:
            continue
        return f"{router.name} released ({released.describe()})"
    return "route not released: it kept changing under us"


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
