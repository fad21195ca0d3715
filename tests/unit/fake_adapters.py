"""Fake adapters for reconcile(): they record every call and pretend revisions exist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelrollout.api.spec import Analysis, Metric, ModelDeploymentSpec
from modelrollout.engine.checks.reads import LookPlan, Tallies
from modelrollout.engine.model import RevisionObservation, RouteFeature, RouteState
from modelrollout.metrics.provider import Target
from modelrollout.reconcile import Adapters
from modelrollout.routing.router import RouteConflict, RouteError


@dataclass
class Cluster:
    """What the fakes saw, in order, and the revisions they pretend exist."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    revisions: dict[str, RevisionObservation] = field(default_factory=dict)
    supports: frozenset[RouteFeature] = frozenset({"weights"})
    route_error: RouteError | None = None
    route_conflicts: int = 0  # the next route writes that find the route moved
    value: float | None = 0.0
    foreign: str | None = None  # an object that holds a name we need
    tallies: Tallies = field(default_factory=dict)


class FakeWorkloads:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def observe(self) -> dict[str, RevisionObservation]:
        self.cluster.calls.append(("observe",))
        return dict(self.cluster.revisions)

    def foreign(self, spec: ModelDeploymentSpec) -> str | None:
        return self.cluster.foreign

    def apply_revision(
        self, spec: ModelDeploymentSpec, replicas: int, observed: RevisionObservation | None
    ) -> None:
        self.cluster.calls.append(("apply", spec.revision(), replicas))
        self.cluster.revisions[spec.revision()] = RevisionObservation(replicas, replicas)

    def scale_revision(
        self, revision: str, replicas: int, observed: RevisionObservation | None
    ) -> None:
        self.cluster.calls.append(("scale", revision, replicas))

    def delete_revision(self, revision: str) -> None:
        self.cluster.calls.append(("delete", revision))

    def point_services(self, spec: ModelDeploymentSpec, stable: str, canary: str) -> None:
        self.cluster.calls.append(("services", stable, canary))


class FakeRouter:
    name = "fake route"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.supports = cluster.supports

    def check(self, needed: Mapping[RouteFeature, str]) -> None:
        self.cluster.calls.append(("check",))
        if self.cluster.route_error is not None:
            raise self.cluster.route_error

    def carries(self, state: RouteState) -> bool:
        return True

    def empty_filter_lists(self) -> tuple[int, ...] | None:
        return ()

    def apply(self, state: RouteState) -> None:
        self.cluster.calls.append(("route", state.canary_weight))
        if self.cluster.route_conflicts:
            self.cluster.route_conflicts -= 1
            raise RouteConflict("the route moved")


class FakeProvider:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def value(self, query: str) -> float | None:
        self.cluster.calls.append(("query", query))
        return 1000.0 if query == "samples" else self.cluster.value

    def metric_query(self, metric: Metric, target: Target) -> str:
        return f"{metric.name}@{target.version}"

    def sample_size_query(self, target: Target) -> str:
        return "samples"

    def tallies(self, plan: LookPlan, namespace: str, model: str) -> Tallies:
        self.cluster.calls.append(("tallies", plan))
        return dict(self.cluster.tallies)


def adapters(cluster: Cluster) -> Adapters:
    def router(spec: ModelDeploymentSpec, namespace: str, name: str) -> FakeRouter:
        cluster.calls.append(("router", namespace, name))
        return FakeRouter(cluster)

    def provider(analysis: Analysis, namespace: str) -> FakeProvider:
        return FakeProvider(cluster)

    return Adapters(
        workloads=lambda name, namespace, uid: FakeWorkloads(cluster),
        router=router,
        provider=provider,
    )
