"""Observe and decide: one decision from the spec, the status and what the adapters
observe, not yet acted on; bad input as InvalidSpec, anything else as ReconcileError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modelrollout.api.names import NAME_RULE
from modelrollout.api.spec import Analysis, ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import REQUEST_ANNOTATION, ConditionType, Reason
from modelrollout.api_answers import api_message
from modelrollout.engine.conditions import condition, set_condition
from modelrollout.engine.desired import route_features
from modelrollout.engine.model import Decision, Emit, Observations, Request, Slot
from modelrollout.engine.promotion import route_state
from modelrollout.engine.queue import Contender
from modelrollout.engine.request_token import Refused, read_request
from modelrollout.engine.rollout import decide
from modelrollout.metrics.provider import MetricsProvider
from modelrollout.metrics.reads import judge_look, measurements
from modelrollout.reconcile.ports import Adapters, InvalidSpec, Plan, Result
from modelrollout.routing.router import RouteError, require_features
from modelrollout.workloads.render import (
    pods_selector,
    record_problem,
    template_problem,
)


def reconcile(
    adapters: Adapters, body: Mapping[str, Any], now: datetime, measure: bool = True
) -> Result:
    """One decision, not yet acted on. Whatever an adapter raises, a Result comes back:
    bad input as InvalidSpec, anything else as ReconcileError with the status as it was
    (the next reconcile decides again from it: level-triggered). Without `measure`, the
    metrics provider is not asked (a measurement due is taken by a later reconcile)."""
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    generation = meta.get("generation")
    status = ModelDeploymentStatus.model_validate(body.get("status") or {})
    doing = "reading the spec"
    try:
        if not NAME_RULE.holds(name):  # created before the CRD refused such names
            raise InvalidSpec(Reason.INVALID_SPEC, NAME_RULE.message)
        spec = parse_spec(body.get("spec") or {})
        doing = "checking the route"
        router = adapters.router(spec, namespace, name)
        needed = route_features(spec)
        require_features(router, needed)
        router.check(needed)
        route_carried = router.carries(route_state(status))
        route_empty_filters = router.empty_filter_lists()
        doing = "observing the Deployments"
        workloads = adapters.workloads(name, namespace, uid)
        revisions = workloads.observe()
        taken = workloads.foreign(spec)
        if taken is not None:
            raise InvalidSpec(Reason.INVALID_SPEC, taken)
        request = parse_request(meta.get("annotations") or {}, status.handled_request, now)
        doing = "measuring"

        made: dict[int, MetricsProvider] = {}

        def read(analysis: Analysis) -> MetricsProvider:
            """One provider per reconcile: the run and the judge's look share it (its
            URL resolved, its Secret and CA read once)."""
            if id(analysis) not in made:
                made[id(analysis)] = adapters.provider(analysis, namespace)
            return made[id(analysis)]

        obs = Observations(
            revisions=revisions,
            measurements=measurements(read, spec, status, namespace, name, now)
            if measure
            else None,
            request=request if isinstance(request, Request) else None,
            judge=judge_look(read, spec, status, namespace, name, now) if measure else None,
            route_carried=route_carried,
            route_empty_filters=route_empty_filters,
        )
        doing = "deciding"

        def deciding(slot: Slot | None) -> Decision:
            return decide(spec, generation, status, replace(obs, slot=slot), now)

        if status.canary is not None or status.returning is not None:
            decision = deciding(None)  # holds a slot already: no new rollout starts
        else:
            since = status.queue.since if status.queue is not None else None
            me = Contender((namespace, name), meta.get("labels") or {}, since=since)
            decision = adapters.slots.decide(me, deciding)
    except (InvalidSpec, RouteError) as bad:
        return _invalid(status, generation, bad.reason, bad.message, now)
    except Exception as exc:  # the loop must go on; the error goes into status and events
        return failed(status, generation, f"{doing}: {error_text(exc)}", now)
    new = decision.status
    live = (new.stable, new.canary, new.previous, new.returning)
    new.replicas = sum(revision.replicas for revision in live if revision is not None)
    new.selector = pods_selector(name)
    new.conditions = set_condition(
        new.conditions, ConditionType.INVALID_SPEC, False, Reason.SPEC_VALID, "", generation, now
    )
    events = decision.events()
    if isinstance(request, Refused) and request.token != status.refused_request:
        new.refused_request = request.token  # said once, not every tick
        events.append(Emit("Warning", request.reason, f"{REQUEST_ANNOTATION}={request.message}"))
    plan = Plan(decision.actions, spec, workloads, router, obs, generation)
    return Result(status, new, events, obs.measurements, next_due=decision.next_due, plan=plan)


def parse_spec(raw: Mapping[str, Any]) -> ModelDeploymentSpec:
    try:
        spec = ModelDeploymentSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidSpec(Reason.INVALID_SPEC, f"spec is invalid: {problems}") from exc
    problem = template_problem(spec.template) or record_problem(spec)
    if problem is not None:
        raise InvalidSpec(Reason.INVALID_SPEC, f"spec is invalid: {problem}")
    return spec


def parse_request(
    annotations: Mapping[str, str], handled: str | None = None, now: datetime | None = None
) -> Request | Refused | None:
    """`modelrollout.io/request: <action>:<time>-<id>`, consumed once, in order of time
    (engine.request_token)."""
    value = annotations.get(REQUEST_ANNOTATION)
    if not value:
        return None
    return read_request(value, handled, now or datetime.now(UTC))


def error_text(exc: Exception) -> str:
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
