"""Gateway API HTTPRoute and GRPCRoute: weights, a mirror and a header route, and nothing
else, written by one guarded JSON patch (patched_route.py) computed in gateway_patch.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.gateway_patch import (
    GRPC_ROUTE,
    HTTP_ROUTE,
    MAX_RULES,
    Backends,
    RouteType,
    empty_filters,
    find_backend_refs,
    route_patch,
    rules_with_header_route,
)
from modelrollout.routing.patched_route import PatchedRouteRouter
from modelrollout.routing.router import RouteKind, RouteLookup

ROUTE_TYPES = {"httpRoute": HTTP_ROUTE, "grpcRoute": GRPC_ROUTE}  # spec key -> kind
KINDS = tuple(t.resource for t in ROUTE_TYPES.values())


def named_route(traffic: Mapping[str, Any]) -> tuple[RouteKind, str] | None:
    """The route a raw `spec.traffic.gatewayAPI` names (for the watch's wake-ups)."""
    for key, route_type in ROUTE_TYPES.items():
        name = traffic.get(key)
        if isinstance(name, str):
            return route_type.resource, name
    return None


class GatewayRoutePatcher:
    """gateway_patch's functions for one route kind and our backends."""

    guarded: tuple[str, ...] = ("spec", "rules")

    def __init__(self, backends: Backends, route_type: RouteType) -> None:
        self.backends, self.type = backends, route_type

    def unwired(self, route: Mapping[str, Any]) -> str | None:
        if find_backend_refs(route, self.backends):
            return None
        return f"has no rule with backendRefs to both {self.backends.describe()}"

    def cannot_hold(
        self, route: Mapping[str, Any], name: str, needed: Mapping[RouteFeature, str]
    ) -> str | None:
        if "headerRoute" not in needed:
            return None
        rules = rules_with_header_route(route, self.backends)
        if rules <= MAX_RULES:
            return None
        return (
            f"{needed['headerRoute']} needs one more rule per weighted rule: {name} would "
            f"have {rules} rules, and Gateway API allows {MAX_RULES}"
        )

    def ops(self, route: Mapping[str, Any], state: RouteState) -> list[dict[str, Any]]:
        return route_patch(route, self.backends, state, self.type)

    def empty_filters(self, route: Mapping[str, Any]) -> tuple[int, ...] | None:
        return empty_filters(route, self.backends)


class GatewayAPIRouter(PatchedRouteRouter):
    def __init__(
        self,
        api: client.ApiClient,
        lookup: RouteLookup | None,
        namespace: str,
        route: str,
        backends: Backends,
        route_type: RouteType = HTTP_ROUTE,
    ) -> None:
        kind = (route_type.kind, route_type.resource)
        patcher = GatewayRoutePatcher(backends, route_type)
        super().__init__(api, lookup, namespace, route, kind, patcher)
