"""The reconciler's ports: how it reaches the cluster, the route and the metrics
(Adapters, injected, so tests use fakes), and what a decision hands back (Result, with
the Plan of actions not yet carried out)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.spec import Analysis, CASource, ModelDeploymentSpec
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.api.vocabulary import Reason
from modelrollout.engine.model import (
    Action,
    Decision,
    Emit,
    Observations,
    RevisionObservation,
    Slot,
)
from modelrollout.engine.queue import Contender
from modelrollout.metrics.endpoints import EndpointPolicy
from modelrollout.metrics.provider import MetricsProvider, ProviderConfigError
from modelrollout.metrics.query_rates import UNLIMITED, QueryRates
from modelrollout.metrics.registry import (
    ProviderInputs,
    credentials_secret,
    endpoint_refusal,
    provider_for,
    trusted_ca,
)
from modelrollout.routing.registry import Route, router_for
from modelrollout.routing.router import RouteLookup, Router
from modelrollout.workloads.cluster import Workloads
from modelrollout.workloads.observed import Owned
from modelrollout.workloads.render import pod_labels, service_name


class InvalidSpec(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class WorkloadsPort(Protocol):
    """The workloads of one ModelDeployment (workloads.cluster.Workloads, or a fake)."""

    def observe(self) -> dict[str, RevisionObservation]: ...
    def foreign(self, spec: ModelDeploymentSpec) -> str | None: ...
    def apply_revision(
        self, spec: ModelDeploymentSpec, replicas: int, observed: RevisionObservation | None
    ) -> None: ...
    def scale_revision(
        self, revision: str, replicas: int, observed: RevisionObservation | None
    ) -> None: ...
    def delete_revision(self, revision: str) -> None: ...
    def point_services(self, spec: ModelDeploymentSpec, stable: str, canary: str) -> None: ...


class SlotsPort(Protocol):
    """The operator's rollout slots (handlers.rollout_slots): `decide` runs a decision
    with the slot `me` may have, one decision at a time, and keeps the slot it took."""

    def decide(self, me: Contender, decide: Callable[[Slot | None], Decision]) -> Decision: ...


class NoLimits:
    """No limit on rollouts at once: every rollout starts when it is due."""

    def decide(self, me: Contender, decide: Callable[[Slot | None], Decision]) -> Decision:
        return decide(None)


NO_LIMITS = NoLimits()


@dataclass(frozen=True)
class Adapters:
    """How the reconciler reaches the outside world, one factory per port."""

    # (name, namespace, uid) -> workloads
    workloads: Callable[[str, str, str], WorkloadsPort]
    # (spec, namespace, stable Service, canary Service) -> router
    router: Callable[[ModelDeploymentSpec, str, str], Router]  # (spec, namespace, name)
    # (analysis, namespace) -> provider; raises InvalidSpec for unusable credentials
    provider: Callable[[Analysis, str], MetricsProvider]
    slots: SlotsPort = NO_LIMITS


def cluster_adapters(
    api: client.ApiClient,
    owned: Owned,
    routes: RouteLookup | None,
    policy: EndpointPolicy,
    slots: SlotsPort = NO_LIMITS,
    rates: QueryRates = UNLIMITED,
) -> Adapters:
    """Adapters for one reconcile, reading what the caches hold (`owned`, `routes`), and
    querying metrics only where the operator's allow-list (`policy`) lets them go, as
    often as its limits (`rates`) let them."""
    return Adapters(
        workloads=lambda name, namespace, uid: Workloads(api, name, namespace, uid, owned),
        router=lambda spec, namespace, name: router_for(
            spec,
            Route(
                api,
                routes,
                namespace,
                name,
                service_name(name, "stable"),
                service_name(name, "canary"),
                pod_labels(name, spec),
            ),
        ),
        provider=lambda analysis, namespace: _provider(
            api, analysis, namespace, ProviderInputs(policy, rates=rates)
        ),
        slots=slots,
    )


def _provider(
    api: client.ApiClient, analysis: Analysis, namespace: str, given: ProviderInputs
) -> MetricsProvider:
    refused = endpoint_refusal(analysis, given.policy)
    if refused is not None:
        raise InvalidSpec(Reason.INVALID_SPEC, refused)
    core = client.CoreV1Api(api)
    ref, ca = credentials_secret(analysis), trusted_ca(analysis)
    if ref is not None:
        secret = _read(core.read_namespaced_secret, "Secret", ref.name, namespace, "credentials")
        given = replace(given, secret=secret.data or {})
    if ca is not None:
        given = replace(given, ca_pem=_ca_pem(core, ca, namespace))
    try:
        return provider_for(analysis, given)
    except ProviderConfigError as exc:
        where = f"Secret {namespace}/{ref.name}: " if ref else ""
        raise InvalidSpec(Reason.INVALID_SPEC, f"analysis.prometheus: {where}{exc}") from exc


def _ca_pem(core: client.CoreV1Api, ca: CASource, namespace: str) -> str:
    if ca.config_map is not None:
        found = _read(core.read_namespaced_config_map, "ConfigMap", ca.config_map, namespace, "CA")
        pem = (found.data or {}).get(ca.key)
    else:
        found = _read(core.read_namespaced_secret, "Secret", ca.secret or "", namespace, "CA")
        raw = (found.data or {}).get(ca.key)
        pem = None if raw is None else base64.b64decode(raw).decode(errors="replace")
    if not pem:
        raise InvalidSpec(
            Reason.INVALID_SPEC, f"analysis.prometheus.ca: key `{ca.key}` is missing or empty"
        )
    return str(pem)


def _read(read: Callable[[str, str], Any], kind: str, name: str, namespace: str, what: str) -> Any:
    try:
        return read(name, namespace)
    except ApiException as exc:
        if exc.status in (403, 404):
            raise InvalidSpec(
                Reason.INVALID_SPEC,
                f"{kind} {namespace}/{name} for the metrics provider's {what} cannot be read "
                f"({exc.status} {exc.reason})",
            ) from exc
        raise


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
