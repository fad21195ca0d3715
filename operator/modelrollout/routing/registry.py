"""Router names to implementations, a row each; an unknown or missing router is an error,
never a default. A row says what the router writes to (so the operator watches it, and a
change wakes the ModelDeployments naming it), where its spec names the route, and how
the router is made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from modelrollout.api import inference_pool
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.routing import gateway_api, istio
from modelrollout.routing.gateway_patch import Backends
from modelrollout.routing.istio_patch import IstioServices
from modelrollout.routing.replica_ratio import ReplicaRatioRouter
from modelrollout.routing.router import RouteKind, RouteLookup, Router
from modelrollout.routing.service_selector import ServiceSelectorOnly


@dataclass(frozen=True)
class Route:
    """What a router is made with: the client, the cached route (`lookup`: None when its
    kind is not watched, then the API server is read), the ModelDeployment's name, our
    Services, and the labels every pod of every revision carries."""

    api: client.ApiClient
    lookup: RouteLookup | None
    namespace: str
    name: str
    stable: str
    canary: str
    pod_labels: Mapping[str, str]


@dataclass(frozen=True)
class RouterRow:
    kinds: tuple[RouteKind, ...]  # the route resources it writes (watched; RBAC in the chart)
    # The route a raw spec.traffic.<key> names, and its kind.
    route: Callable[[Mapping[str, Any]], tuple[RouteKind, str] | None]
    make: Callable[[ModelDeploymentSpec, Route], Router]


def _gateway_api(spec: ModelDeploymentSpec, route: Route) -> Router:
    assert spec.traffic is not None
    assert spec.traffic.gateway_api is not None
    gateway = spec.traffic.gateway_api
    backends = Backends(route.stable, route.canary)
    if gateway.inference_pool is not None:  # the pools are named like the Services
        backends = Backends(
            route.stable,
            route.canary,
            inference_pool.GROUP,
            inference_pool.KIND,
            service_port=spec.service.port,
        )
    key, name = gateway.route()
    return gateway_api.GatewayAPIRouter(
        route.api, route.lookup, route.namespace, name, backends, gateway_api.ROUTE_TYPES[key]
    )


def _istio(spec: ModelDeploymentSpec, route: Route) -> Router:
    assert spec.traffic is not None
    assert spec.traffic.istio is not None
    vs = spec.traffic.istio
    services = IstioServices(route.namespace, route.stable, route.canary, vs.http_route)
    return istio.IstioRouter(route.api, route.lookup, vs.virtual_service, services)


def _replica_ratio(spec: ModelDeploymentSpec, route: Route) -> Router:
    assert spec.traffic is not None
    assert spec.traffic.replica_ratio is not None
    theirs = spec.traffic.replica_ratio.service
    service = theirs or route.name
    users = theirs is not None
    return ReplicaRatioRouter(route.api, route.namespace, service, route.pod_labels, users)


ROUTERS: dict[str, RouterRow] = {
    "gatewayAPI": RouterRow(gateway_api.KINDS, gateway_api.named_route, _gateway_api),
    "istio": RouterRow((istio.KIND,), istio.named_route, _istio),
    # No route to watch: the pods are the split.
    "replicaRatio": RouterRow((), lambda _: None, _replica_ratio),
}


def route_kinds() -> list[RouteKind]:
    """Every kind of route some router writes to, once each."""
    return sorted({kind for row in ROUTERS.values() for kind in row.kinds})


def route_of(spec: Mapping[str, Any]) -> tuple[RouteKind, str] | None:
    """The route a raw ModelDeployment spec names, and its kind (for wake-ups)."""
    traffic = spec.get("traffic")
    if not isinstance(traffic, Mapping):
        return None
    for key, row in ROUTERS.items():
        given = traffic.get(key)
        named = row.route(given) if isinstance(given, Mapping) else None
        if named is not None:
            return named
    return None


def router_for(spec: ModelDeploymentSpec, route: Route) -> Router:
    if spec.traffic is None:
        return ServiceSelectorOnly()
    return ROUTERS[spec.traffic.kind].make(spec, route)
