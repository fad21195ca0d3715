"""Router names to implementations; an unknown or missing router is an error, never a default."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from modelrollout.api import inference_pool
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.routing.gateway_api import GatewayAPIRouter, RouteLookup
from modelrollout.routing.httproute_patch import Backends
from modelrollout.routing.router import Router
from modelrollout.routing.service_selector import ServiceSelectorOnly

# spec.traffic's key -> (spec, api, routes, namespace, stable Service, canary Service)
# -> router; `routes` reads the watch-fed cache (None: not watched, read the API server)
RouterFactory = Callable[
    [ModelDeploymentSpec, client.ApiClient, RouteLookup | None, str, str, str], Router
]


def _gateway_api(
    spec: ModelDeploymentSpec,
    api: client.ApiClient,
    routes: RouteLookup | None,
    namespace: str,
    stable: str,
    canary: str,
) -> Router:
    assert spec.traffic is not None
    assert spec.traffic.gateway_api is not None
    gateway = spec.traffic.gateway_api
    backends = Backends(stable, canary)
    if gateway.inference_pool is not None:  # the pools are named like the Services
        backends = Backends(
            stable,
            canary,
            inference_pool.GROUP,
            inference_pool.KIND,
            service_port=spec.service.port,
        )
    return GatewayAPIRouter(api, routes, namespace, gateway.http_route, backends)


ROUTERS: dict[str, RouterFactory] = {"gatewayAPI": _gateway_api}


def router_for(
    spec: ModelDeploymentSpec,
    api: client.ApiClient,
    routes: RouteLookup | None,
    namespace: str,
    stable: str,
    canary: str,
) -> Router:
    if spec.traffic is None:
        return ServiceSelectorOnly()
    return ROUTERS[spec.traffic.kind](spec, api, routes, namespace, stable, canary)
