"""InferencePools as the route's backends (Gateway API Inference Extension): the spec's
part, and the upstream resource's coordinates, named once for every layer.

An InferencePool selects the model-server pods of one model, and an endpoint picker
(EPP) configured for that pool chooses a pod per request. The operator keeps one pool
per side, `<name>-stable` and `<name>-canary`, selecting the pods its Services select,
and the route's backendRefs of kind InferencePool carry the weights.

One picker per side, named by the user: a picker serves the pool it was started for
(`--pool-name`), follows that pool's selector as it changes, and is never swapped.
Promotion re-points the stable pool's selector (its picker follows it to pods that are
already warm), a rollback only moves weight, so neither leaves a pool with weight and
no picker configured for it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import DNSLabel

GROUP, VERSION, PLURAL, KIND = (
    "inference.networking.k8s.io",
    "v1",
    "inferencepools",
    "InferencePool",
)

PortNumber = Annotated[int, Field(ge=1, le=65535, description="A port number.")]


class EndpointPicker(Model):
    """An endpoint picker's Service, the picker started for one of our pools."""

    name: DNSLabel = Field(description="Name of the picker's Service, in this namespace.")
    port: PortNumber = Field(default=9002, description="Its ext_proc (gRPC) Service port.")


class EndpointPickers(Model):
    """A picker per side: a picker serves the one pool it was started for."""

    __rules__ = (
        Rule(
            "self.stable.name != self.canary.name",
            "endpointPickers: stable and canary need a picker each (one picker serves "
            "one pool: start them with --pool-name=<name>-stable and <name>-canary)",
            lambda pickers: pickers.stable.name != pickers.canary.name,
        ),
    )
    stable: EndpointPicker = Field(description="The picker of the pool <name>-stable.")
    canary: EndpointPicker = Field(description="The picker of the pool <name>-canary.")


class InferencePoolBackends(Model):
    """Route through InferencePools (inference.networking.k8s.io/v1) the operator keeps:
    `<name>-stable` and `<name>-canary`, each selecting that side's pods."""

    __rules__ = (
        Rule(
            "self.targetPorts.all(p, self.targetPorts.exists_one(q, q == p))",
            "inferencePool.targetPorts must be unique",
            lambda pools: len(set(pools.target_ports)) == len(pools.target_ports),
        ),
    )
    target_ports: list[PortNumber] = Field(
        min_length=1,
        max_length=8,
        description="The model servers' ports; the picker treats each as an endpoint.",
    )
    app_protocol: Literal["http", "kubernetes.io/h2c"] = Field(
        default="http", description="The protocol of every target port."
    )
    endpoint_pickers: EndpointPickers = Field(
        description=(
            "The picker of each side's pool. Run them before the first rollout: the "
            "canary's pool gets traffic through its picker."
        )
    )
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        default="FailClose",
        description=(
            "What the gateway does when a picker does not answer: FailClose refuses the "
            "request, FailOpen sends it to a pod of the gateway's choosing."
        ),
    )


def pool_name(name: str, role: str) -> str:
    """The pool of one side of a ModelDeployment, named like its Service."""
    return f"{name}-{role}"
