"""A tiny in-memory world for engine tests: Deployments become ready as soon as they are scaled."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.api.vocabulary import Outcome
from modelrollout.engine.checks.reads import Tallies
from modelrollout.engine.model import (
    ApplyRevision,
    Decision,
    DeleteRevision,
    Emit,
    JudgeReading,
    Observations,
    PointServices,
    Request,
    RevisionObservation,
    RouteState,
    ScaleRevision,
    SetRoute,
    Slot,
)
from modelrollout.engine.promotion import route_state
from modelrollout.engine.rollout import decide

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def spec(version: str = "1.0.0", **overrides: Any) -> ModelDeploymentSpec:
    body: dict[str, Any] = {
        "replicas": 4,
        "model": {"version": version},
        "template": {"spec": {"containers": [{"name": "server", "image": f"srv:{version}"}]}},
        "strategy": {
            "canary": {
                "steps": [
                    {"setWeight": 10},
                    {"pause": {"duration": "1m"}},
                    {"setWeight": 50},
                    {"pause": {"duration": "1m"}},
                ]
            }
        },
        "traffic": {"gatewayAPI": {"httpRoute": "route"}},
        "analysis": {
            "prometheus": {"url": "http://prometheus:9090"},
            "interval": "30s",
            "failureLimit": 1,
            "metrics": [{"name": "error-rate", "template": "errorRate", "max": 0.01}],
        },
    }
    body.update(overrides)
    return ModelDeploymentSpec.model_validate(body)


def measurement(outcome: Outcome, at: datetime, value: float | None = 0.001) -> Measurement:
    return Measurement(
        metric="error-rate", outcome=outcome, value=value, max=0.01, message="m", at=at
    )


@dataclass
class World:
    spec: ModelDeploymentSpec
    now: datetime = T0
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    replicas: dict[str, int] = field(default_factory=dict)
    ready_limit: dict[str, int] = field(default_factory=dict)  # cap readiness per revision
    services: tuple[str, str] | None = None
    weight: int | None = None
    weights_seen: list[int] = field(default_factory=list)
    route: RouteState | None = None  # the whole state last set
    routes_seen: list[RouteState] = field(default_factory=list)
    events: list[Emit] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    last: Decision | None = None
    route_refuses: bool = False  # the route keeps what it carries (writes do not stick)
    # Pods scaled away last tick, still terminating (they hold their GPUs for one tick).
    terminating: dict[str, int] = field(default_factory=dict)
    peak_pods: int = 0  # the most pods that existed at once, terminating ones included
    slot: Slot | None = None  # what the rollout slots answer (None: no limit)

    def observations(self) -> dict[str, RevisionObservation]:
        """Pods are ready as soon as scaled, and count once a Service selects them."""
        observed = {}
        for rev, n in self.replicas.items():
            roles = self.serving(rev)
            ready = min(n, self.ready_limit.get(rev, n)) if roles else 0
            pods = n + self.terminating.get(rev, 0)
            observed[rev] = RevisionObservation(n, ready, serving=roles, pods=pods)
        return observed

    def serving(self, revision: str) -> frozenset[str]:
        stable, canary = self.services or ("", "")
        return frozenset(
            role for role, rev in (("stable", stable), ("canary", canary)) if rev == revision
        )

    def tick(
        self,
        *,
        measurements: tuple[Measurement, ...] | None = None,
        request: Request | None = None,
        advance: timedelta = timedelta(seconds=1),
        judge: JudgeReading | None = None,
        route_empty_filters: tuple[int, ...] | None = None,
    ) -> Decision:
        self.now += advance
        carried = (self.route or RouteState(0)) == route_state(self.status)
        obs = Observations(
            self.observations(),
            measurements,
            request,
            judge,
            carried,
            route_empty_filters,
            self.slot if self.status.canary is None else None,
        )
        decision = decide(self.spec, 1, self.status, obs, self.now)
        self.terminating = {}  # last tick's have gone
        for action in decision.actions:
            if isinstance(action, (ApplyRevision, ScaleRevision)):
                gone = self.replicas.get(action.revision, 0) - action.replicas
                if gone > 0:
                    self.terminating[action.revision] = gone
                self.replicas[action.revision] = action.replicas
            elif isinstance(action, PointServices):
                self.services = (action.stable, action.canary)
            elif isinstance(action, SetRoute) and not self.route_refuses:
                weight = action.state.canary_weight
                if weight != self.weight:
                    self.weights_seen.append(weight)
                self.weight = weight
                if action.state != self.route:
                    self.routes_seen.append(action.state)
                self.route = action.state
            elif isinstance(action, SetRoute):
                pass
            elif isinstance(action, DeleteRevision):
                self.deleted.append(action.revision)
                self.replicas.pop(action.revision, None)
            else:
                self.events.append(action)
        self.status = decision.status
        self.last = decision
        existing = sum(self.replicas.values()) + sum(self.terminating.values())
        self.peak_pods = max(self.peak_pods, existing)
        return decision

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]


def healthy_world(version: str = "1.0.0", **overrides: Any) -> World:
    world = World(spec(version, **overrides))
    world.tick()
    world.tick()
    return world


def rate_tallies(
    check: str, canary: float, canary_bad: float, stable: float, stable_bad: float
) -> Tallies:
    """The sums a rate check (errors, ratio) reads, as a provider answers them."""
    return {
        ("canary", check, "requests", ""): canary,
        ("canary", check, "bad", ""): canary_bad,
        ("stable", check, "requests", ""): stable,
        ("stable", check, "bad", ""): stable_bad,
    }
