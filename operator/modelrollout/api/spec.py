"""ModelDeployment .spec: what a user declares. The CRD schema is generated from these."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field

from modelrollout.api.analysis import (
    Analysis,
    Metric,
    MetricConventions,
    PrometheusSource,
    SecretRef,
)
from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import DNSLabel, Duration, IntOrString

# Re-exported: the spec's parts, importable from one place.
__all__ = [
    "Analysis",
    "BlueGreenStrategy",
    "CanaryStep",
    "CanaryStrategy",
    "Metric",
    "MetricConventions",
    "ModelDeploymentSpec",
    "PrometheusSource",
    "SecretRef",
    "Strategy",
    "Traffic",
]


class ModelRef(Model):
    """The model this deployment serves; changing it starts a rollout."""

    version: str = Field(
        min_length=1,
        max_length=128,
        description=(
            "Version of the model: the unit of a rollout. Handed to every container as "
            "MODEL_VERSION and used as the `version` label value in analysis queries."
        ),
    )
    uri: str | None = Field(
        default=None,
        max_length=2048,
        description="Where the model artifact lives; handed to every container as MODEL_URI.",
    )


class ServicePorts(Model):
    """The Services the operator creates for the stable and canary revisions."""

    port: int = Field(default=80, ge=1, le=65535, description="Port the Services listen on.")
    target_port: IntOrString = Field(
        default="http", description="Container port (number or name) the Services forward to."
    )


class Pause(Model):
    """Wait at the current weight."""

    duration: Duration | None = Field(
        default=None,
        description="How long to wait; without it, wait until a person promotes.",
    )


class CanaryStep(Model):
    """One step of a canary: set a weight, or pause. Exactly one of the two."""

    __rules__ = (
        Rule(
            "[has(self.setWeight), has(self.pause)].exists_one(x, x)",
            "a step sets exactly one of setWeight or pause",
            lambda step: (step.set_weight is None) != (step.pause is None),
        ),
    )
    # strict: the API server's CEL rules refuse 20.0 here (its schema check alone would not)
    set_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        strict=True,
        description="Percent of live traffic sent to the canary.",
    )
    pause: Pause | None = Field(default=None, description="Wait before the next step.")

    @property
    def kind(self) -> str:
        """setWeight or pause: the one field set (engine.canary.STEP_KINDS has a row each)."""
        return self.chosen_key()


class CanaryStrategy(Model):
    """Move traffic to the new revision step by step, judged at every step."""

    __rules__ = (
        Rule(
            "self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
            "setWeight values must not decrease from one step to the next",
            lambda canary: canary.set_weights() == sorted(canary.set_weights()),
        ),
    )
    steps: list[CanaryStep] = Field(
        min_length=1,
        max_length=64,
        description="The steps, in order. After the last one the canary is promoted.",
    )
    scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "After promotion, how long the previous revision stays up (warm) "
            "before it is scaled to zero."
        ),
    )
    abort_scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "After a rollback, how long the canary stays up (for inspection) "
            "before it is scaled to zero."
        ),
    )

    def set_weights(self) -> list[int]:
        return [s.set_weight for s in self.steps if s.set_weight is not None]


class BlueGreenStrategy(Model):
    """Bring the new revision up at full size behind a preview Service, then switch at once."""

    auto_promotion_after: Duration | None = Field(
        default=None,
        description=(
            "Promote this long after the preview is ready and analysis passed; "
            "without it, wait for a person."
        ),
    )
    preview_duration: Duration | None = Field(
        default=None,
        description="Least time the ready preview is analysed before it may be promoted.",
    )
    scale_down_delay: Duration = Field(
        default="5m",
        description=(
            "How long the previous revision stays warm after the switch; post-promotion "
            "analysis runs meanwhile and a failure switches traffic straight back to it."
        ),
    )
    abort_scale_down_delay: Duration = Field(
        default="30s",
        description=(
            "After a rollback, how long the new revision stays up before it is scaled to zero."
        ),
    )


class Strategy(Model):
    """How a new revision replaces the stable one. Exactly one of canary or blueGreen."""

    __rules__ = (
        Rule(
            "[has(self.canary), has(self.blueGreen)].exists_one(x, x)",
            "set exactly one strategy: canary or blueGreen",
            lambda strategy: (strategy.canary is None) != (strategy.blue_green is None),
        ),
    )
    canary: CanaryStrategy | None = Field(default=None, description="A stepwise canary.")
    blue_green: BlueGreenStrategy | None = Field(default=None, description="A blue/green switch.")

    @property
    def kind(self) -> str:
        """canary or blueGreen: the one field set."""
        return self.chosen_key()

    def _chosen(self) -> CanaryStrategy | BlueGreenStrategy:
        chosen = self.canary or self.blue_green
        assert chosen is not None, "the CRD requires exactly one strategy"
        return chosen

    def scale_down_delay(self) -> str:
        return self._chosen().scale_down_delay

    def abort_scale_down_delay(self) -> str:
        return self._chosen().abort_scale_down_delay


class GatewayAPIRoute(Model):
    """A Gateway API HTTPRoute in the ModelDeployment's namespace."""

    http_route: DNSLabel = Field(
        description=(
            "Name of the HTTPRoute. Its rules must have backendRefs to the Services "
            "<name>-stable and <name>-canary; the operator writes only their weights."
        )
    )


class Traffic(Model):
    """Where the traffic split is applied. Exactly one router."""

    __rules__ = (
        Rule(
            "[has(self.gatewayAPI)].exists_one(x, x)",
            "set exactly one router: gatewayAPI",
            lambda traffic: traffic.gateway_api is not None,
        ),
    )
    gateway_api: GatewayAPIRoute | None = Field(
        default=None, alias="gatewayAPI", description="Split traffic with a Gateway API HTTPRoute."
    )

    @property
    def kind(self) -> str:
        """gatewayAPI: the one router set (routing.registry.ROUTERS has a row each)."""
        return self.chosen_key()


class ModelDeploymentSpec(Model):
    """A model server and how new versions of it roll out."""

    __rules__ = (
        Rule(
            "has(self.traffic) || has(self.strategy.blueGreen)",
            "a canary needs spec.traffic: a router to split traffic with",
            lambda spec: spec.traffic is not None or spec.strategy.blue_green is not None,
        ),
        Rule(
            "!has(self.analysis) || self.analysis.metrics.all(m, "
            "self.analysis.metrics.exists_one(o, o.name == m.name))",
            "metric names must be unique",
            lambda spec: (
                spec.analysis is None
                or len({m.name for m in spec.analysis.metrics}) == len(spec.analysis.metrics)
            ),
        ),
    )
    replicas: int = Field(default=1, ge=0, le=1000, description="Pods of the stable revision.")
    model: ModelRef
    template: dict[str, Any] = Field(
        description="Pod template (an ordinary PodTemplateSpec) of the model server.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    service: ServicePorts = Field(
        default_factory=ServicePorts,
        description="Ports of the stable and canary Services.",
        json_schema_extra={"default": {}},
    )
    strategy: Strategy
    traffic: Traffic | None = Field(
        default=None,
        description=(
            "Where the traffic split is applied. Required for a canary; without it a "
            "blue/green switch moves the stable Service's selector."
        ),
    )
    analysis: Analysis | None = Field(
        default=None, description="Metrics that judge the rollout; without it, steps only wait."
    )
    progress_deadline_seconds: int = Field(
        default=1800,
        ge=30,
        description=(
            "How long a new revision may take to become ready before the rollout fails. "
            "Large models load slowly: the default is 30 minutes."
        ),
    )
    revision_history_limit: int = Field(
        default=2, ge=0, le=10, description="Old revisions kept, scaled to zero, for undo."
    )
    paused: bool = Field(default=False, description="Hold the rollout where it is (for GitOps).")

    def shaping(self) -> dict[str, Any]:
        """Everything that shapes the pods, as written in the spec (kept for undo)."""
        return {
            "model": self.model.wire(),
            "template": self.template,
            "targetPort": self.service.target_port,
        }

    def revision(self) -> str:
        """Hash of what shapes the pods; a change makes a new revision."""
        digest = hashlib.sha256(json.dumps(self.shaping(), sort_keys=True).encode()).hexdigest()
        return digest[:10]
