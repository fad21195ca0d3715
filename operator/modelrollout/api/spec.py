"""ModelDeployment .spec: what a user declares. The CRD schema is generated from these."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field

from modelrollout.api.analysis import (
    Analysis,
    CASource,
    Judge,
    Metric,
    MetricConventions,
    PrometheusSource,
    SecretRef,
)
from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import NO_CONTROLS, IntOrString
from modelrollout.api.inference_pool import InferencePoolBackends
from modelrollout.api.route_parts import HeaderRoute, Mirror, PreviewTraffic
from modelrollout.api.strategy import (
    BlueGreenStrategy,
    CanaryStep,
    CanaryStrategy,
    Pause,
    Strategy,
)
from modelrollout.api.traffic import Traffic

# Re-exported: the spec's parts, importable from one place.
__all__ = [
    "Analysis",
    "BlueGreenStrategy",
    "CASource",
    "CanaryStep",
    "CanaryStrategy",
    "HeaderRoute",
    "Judge",
    "Metric",
    "MetricConventions",
    "Mirror",
    "ModelDeploymentSpec",
    "Pause",
    "PreviewTraffic",
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
        pattern=NO_CONTROLS,
        description=(
            "Version of the model: the unit of a rollout. Handed to every container as "
            "MODEL_VERSION and used as the `version` label value in analysis queries."
        ),
    )
    uri: str | None = Field(
        default=None,
        max_length=2048,
        pattern=NO_CONTROLS,
        description="Where the model artifact lives; handed to every container as MODEL_URI.",
    )


class ServicePorts(Model):
    """The Services the operator creates for the stable and canary revisions."""

    port: int = Field(default=80, ge=1, le=65535, description="Port the Services listen on.")
    target_port: IntOrString = Field(
        default="http", description="Container port (number or name) the Services forward to."
    )


class ModelDeploymentSpec(Model):
    """A model server and how new versions of it roll out."""

    __rules__ = (
        Rule(
            "has(self.traffic) || has(self.strategy.blueGreen)",
            "a canary needs spec.traffic: a router to split traffic with",
            lambda spec: spec.traffic is not None or spec.strategy.blue_green is not None,
        ),
        Rule(
            "has(self.traffic) || !has(self.strategy.blueGreen) || "
            "!has(self.strategy.blueGreen.previewTraffic)",
            "blueGreen.previewTraffic needs spec.traffic: a router to mirror or match with",
            lambda spec: (
                spec.traffic is not None
                or spec.strategy.blue_green is None
                or spec.strategy.blue_green.preview_traffic is None
            ),
        ),
        Rule(
            "!has(self.traffic) || !has(self.traffic.replicaRatio) || "
            "(has(self.strategy.canary) && self.replicas >= 2)",
            "traffic.replicaRatio splits by pods: it needs a canary and at least 2 replicas "
            "(with 1, a canary pod is half of the traffic or all of it)",
            lambda spec: (
                not spec.splits_by_pods()
                or (spec.strategy.canary is not None and spec.replicas >= 2)
            ),
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
        Rule(
            "!has(self.strategy.blueGreen) || !has(self.strategy.blueGreen.capacity) || "
            "self.strategy.blueGreen.capacity.maxSurge >= self.replicas",
            "a blue/green preview is full size: blueGreen.capacity.maxSurge must be at "
            "least replicas (or drop the budget, or use a canary)",
            lambda spec: (
                spec.strategy.blue_green is None
                or spec.strategy.blue_green.capacity is None
                or spec.strategy.blue_green.capacity.max_surge >= spec.replicas
            ),
        ),
        Rule(
            "!has(self.strategy.canary) || !has(self.strategy.canary.capacity) || "
            "self.strategy.canary.capacity.maxSurge > 0 || self.replicas != 1",
            "canary.capacity.maxSurge 0 with 1 replica leaves no pod for a canary "
            "without an outage: allow a surge of 1, or run 2 replicas",
            lambda spec: (
                spec.strategy.canary is None
                or spec.strategy.canary.capacity is None
                or spec.strategy.canary.capacity.max_surge > 0
                or spec.replicas != 1
            ),
        ),
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description=(
            "Pods to serve all live traffic: the total an autoscaler sets through the scale "
            "subresource. During a rollout the canary is sized for its share of it."
        ),
    )
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

    def splits_by_pods(self) -> bool:
        """Traffic follows the revisions' shares of ready pods (traffic.replicaRatio)."""
        return self.traffic is not None and self.traffic.replica_ratio is not None

    def inference_pools(self) -> InferencePoolBackends | None:
        """The InferencePools the route sends traffic through, if it does."""
        gateway = self.traffic.gateway_api if self.traffic is not None else None
        return gateway.inference_pool if gateway is not None else None

    def shaping(self) -> dict[str, Any]:
        """Everything that shapes the pods, as written in the spec (kept for undo)."""
        return {
            "model": self.model.wire(),
            "template": self.template,
            "targetPort": self.service.target_port,
        }

    def digest(self) -> str:
        """SHA-256 of what shapes the pods, in full (what undo verifies a record with)."""
        return shaping_digest(self.shaping())

    def revision(self) -> str:
        """Hash of what shapes the pods; a change makes a new revision."""
        return self.digest()[:10]


def shaping_digest(shaping: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()
