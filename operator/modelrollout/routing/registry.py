"""Router names to implementations; an unknown or missing router is an error, never a default."""

from __future__ import annotations

from kubernetes import client

from modelrollout.api.spec import Traffic
from modelrollout.routing.gateway_api import GatewayAPIRouter
from modelrollout.routing.router import Router


def router_for(
    traffic: Traffic, api: client.ApiClient, namespace: str, stable: str, canary: str
) -> Router:
    if traffic.gateway_api is not None:
        return GatewayAPIRouter(api, namespace, traffic.gateway_api.http_route, stable, canary)
    raise ValueError("spec.traffic names no router this operator knows (expected gatewayAPI)")
