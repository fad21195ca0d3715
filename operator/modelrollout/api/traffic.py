"""ModelDeployment .spec.traffic: the router that splits traffic, and its route."""

from __future__ import annotations

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import DNSLabel
from modelrollout.api.inference_pool import InferencePoolBackends


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


class Traffic(Model):
    """Where the traffic split is applied. Exactly one router."""

    __rules__ = (
        Rule(
            "[has(self.gatewayAPI), has(self.istio)].exists_one(x, x)",
            "set exactly one router: gatewayAPI or istio",
            lambda traffic: (traffic.gateway_api is None) != (traffic.istio is None),
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

    @property
    def kind(self) -> str:
        """gatewayAPI or istio: the one router set (routing.registry.ROUTERS has a row
        each)."""
        return self.chosen_key()

    def describe(self) -> str:
        """The route, as users read it."""
        route = self.gateway_api or self.istio
        assert route is not None  # exactly one router: the rule above
        return route.describe()
