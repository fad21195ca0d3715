"""Router names to implementations; an unknown or missing router is an error, never a default."""

from __future__ import annotations

from kubernetes import client

from modelrollout.api.spec import Traffic
from modelrollout.routing.gateway_api import GatewayAPIRouter
from modelrollout.routing.router import Router


class ServiceSelectorOnly:
    """No router: all traffic goes through the stable Service, whose selector the
    blue/green switch moves. Weights have nowhere to go, so setting them does nothing."""

    def check(self) -> None:
        return None

    def set_weight(self, canary: int) -> None:
        return None


def router_for(
    traffic: Traffic | None, api: client.ApiClient, namespace: str, stable: str, canary: str
) -> Router:
    if traffic is None:
        return ServiceSelectorOnly()
    if traffic.gateway_api is not None:
        return GatewayAPIRouter(api, namespace, traffic.gateway_api.http_route, stable, canary)
    raise ValueError("spec.traffic names no router this operator knows (expected gatewayAPI)")
