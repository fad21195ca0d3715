"""Router names to implementations; an unknown or missing router is an error, never a default."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from modelrollout.api.spec import Traffic
from modelrollout.routing.gateway_api import GatewayAPIRouter, RouteLookup
from modelrollout.routing.router import Router
from modelrollout.routing.service_selector import ServiceSelectorOnly

# spec.traffic's key -> (traffic, api, routes, namespace, stable Service, canary Service)
# -> router; `routes` reads the watch-fed cache (None: not watched, read the API server)
RouterFactory = Callable[[Traffic, client.ApiClient, RouteLookup | None, str, str, str], Router]


def _gateway_api(
    traffic: Traffic,
    api: client.ApiClient,
    routes: RouteLookup | None,
    namespace: str,
    stable: str,
    canary: str,
) -> Router:
    assert traffic.gateway_api is not None
    route = traffic.gateway_api.http_route
    return GatewayAPIRouter(api, routes, namespace, route, stable, canary)


ROUTERS: dict[str, RouterFactory] = {"gatewayAPI": _gateway_api}


def router_for(
    traffic: Traffic | None,
    api: client.ApiClient,
    routes: RouteLookup | None,
    namespace: str,
    stable: str,
    canary: str,
) -> Router:
    if traffic is None:
        return ServiceSelectorOnly()
    return ROUTERS[traffic.kind](traffic, api, routes, namespace, stable, canary)
