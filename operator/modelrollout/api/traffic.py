"""ModelDeployment .spec.traffic: the router that splits traffic, and its route."""

from __future__ import annotations

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import DNSLabel
from modelrollout.api.inference_pool import InferencePoolBackends

_ROUTE_KINDS = {"httpRoute": "HTTPRoute", "grpcRoute": "GRPCRoute"}  # as users read them


class GatewayAPIRoute(Model):
    """A Gateway API HTTPRoute or GRPCRoute in the ModelDeployment's namespace."""

    __rules__ = (
        Rule(
            "[has(self.httpRoute), has(self.grpcRoute)].exists_one(x, x)",
            "gatewayAPI names exactly one route: httpRoute or grpcRoute",
            lambda route: (route.http_route is None) != (route.grpc_route is None),
        ),
        Rule(
            "!has(self.inferencePool) || has(self.httpRoute)",
            "inferencePool needs an httpRoute: InferencePools are HTTPRoute backends",
            lambda route: route.inference_pool is None or route.http_route is not None,
        ),
    )
    http_route: DNSLabel | None = Field(
        default=None,
        description=(
            "Name of the HTTPRoute. Its rules must have backendRefs to the Services "
            "<name>-stable and <name>-canary (or, with inferencePool, to the "
            "InferencePools of those names); the operator writes only their weights, "
            "its mirror filter and its header-route rules."
        ),
    )
    grpc_route: DNSLabel | None = Field(
        default=None,
        description=(
            "Name of the GRPCRoute (gRPC model servers: Triton, KServe's v2 protocol). "
            "Its rules must have backendRefs to the Services <name>-stable and "
            "<name>-canary; the operator writes what it writes on an HTTPRoute."
        ),
    )
    inference_pool: InferencePoolBackends | None = Field(
        default=None,
        description=(
            "Route through InferencePools instead of Services: the operator keeps the "
            "pools <name>-stable and <name>-canary, and moves the weights of the route's "
            "backendRefs of kind InferencePool."
        ),
    )

    def route(self) -> tuple[str, str]:
        """The key of the route named (httpRoute or grpcRoute) and its name."""
        if self.grpc_route is not None:
            return "grpcRoute", self.grpc_route
        assert self.http_route is not None  # one of the two: the rule above
        return "httpRoute", self.http_route

    def describe(self) -> str:
        """The route's kind and name, as users read them."""
        key, name = self.route()
        return f"{ {'httpRoute': 'HTTPRoute', 'grpcRoute': 'GRPCRoute'}[key] } {name}"


class IstioRoute(Model):
    """An Istio VirtualService in the ModelDeployment's namespace."""

    virtual_service: DNSLabel = Field(
        description=(
            "Name of the VirtualService. Its HTTP routes to exactly the Services "
            "<name>-stable and <name>-canary carry the split; the operator writes only "
            "their weights, its mirror and its header routes, and nothing else."
        )
    )
    http_route: DNSLabel | None = Field(
        default=None,
        description=(
            "The name of one HTTP route (an entry of the VirtualService's `http`) to "
            "split; without it, every HTTP route to both Services."
        ),
    )

    def describe(self) -> str:
        route = f" (HTTP route {self.http_route})" if self.http_route else ""
        return f"VirtualService {self.virtual_service}{route}"


class ReplicaRatio(Model):
    """No mesh or gateway: one Service selects every revision's pods, and a revision's
    share of traffic is its share of the ready pods."""

    service: DNSLabel | None = Field(
        default=None,
        description=(
            "A Service of yours that selects the pods of every revision (by labels of the "
            "pod template, never a version): read, never written. Without it the operator "
            "keeps a Service named like the ModelDeployment selecting all its pods."
        ),
    )

    def describe(self, name: str) -> str:
        return f"replica ratio on Service {self.service or name}"


class Traffic(Model):
    """Where the traffic split is applied. Exactly one router."""

    __rules__ = (
        Rule(
            "[has(self.gatewayAPI), has(self.istio), has(self.replicaRatio)].exists_one(x, x)",
            "set exactly one router: gatewayAPI, istio or replicaRatio",
            lambda traffic: (
                [traffic.gateway_api, traffic.istio, traffic.replica_ratio].count(None) == 2
            ),
        ),
    )
    gateway_api: GatewayAPIRoute | None = Field(
        default=None,
        alias="gatewayAPI",
        description="Split traffic with a Gateway API HTTPRoute or GRPCRoute.",
    )
    istio: IstioRoute | None = Field(
        default=None, description="Split traffic with an Istio VirtualService."
    )
    replica_ratio: ReplicaRatio | None = Field(
        default=None,
        description=(
            "Split traffic by pods, without a mesh: the canary's weight is its share of "
            "the ready pods behind one Service, so weights round to what the replicas "
            "can express (a 5% step on 4 replicas is 25%: one pod of four). Stable shrinks "
            "as the canary grows, within strategy.canary.capacity.maxSurge extra pods "
            "(1 when no capacity is set). Weights only: no mirror or header route."
        ),
    )

    @property
    def kind(self) -> str:
        """gatewayAPI, istio or replicaRatio: the one router set (routing.registry.ROUTERS
        has a row each)."""
        return self.chosen_key()

    def describe(self, name: str) -> str:
        """The route (of ModelDeployment `name`), as users read it."""
        if self.replica_ratio is not None:
            return self.replica_ratio.describe(name)
        route = self.gateway_api or self.istio
        assert route is not None  # exactly one router: the rule above
        return route.describe()
