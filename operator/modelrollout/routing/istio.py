"""Istio VirtualService: weights, a mirror and a header route on the HTTP routes to our
Services, and nothing else, written by one guarded JSON patch (patched_route.py) of
`spec.http` computed in istio_patch.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.istio_patch import (
    IstioServices,
    http_patch,
    owners_mirror,
    weighted_routes,
)
from modelrollout.routing.patched_route import PatchedRouteRouter
from modelrollout.routing.router import RouteKind, RouteLookup

KIND = RouteKind("networking.istio.io", "v1", "virtualservices")


def named_route(traffic: Mapping[str, Any]) -> tuple[RouteKind, str] | None:
    """The VirtualService a raw `spec.traffic.istio` names (for the watch's wake-ups)."""
    name = traffic.get("virtualService")
    return (KIND, name) if isinstance(name, str) else None


class IstioPatcher:
    guarded: tuple[str, ...] = ("spec", "http")

    def __init__(self, services: IstioServices) -> None:
        self.services = services

    def unwired(self, route: Mapping[str, Any]) -> str | None:
        if weighted_routes(route, self.services):
            return None
        return f"has no {self.services.describe()}"

    def cannot_hold(
        self, route: Mapping[str, Any], name: str, needed: Mapping[RouteFeature, str]
    ) -> str | None:
        theirs = owners_mirror(route, self.services) if "mirror" in needed else None
        if theirs is None:
            return None
        return (
            f"{needed['mirror']} needs a mirror on HTTP route {theirs} of {name}, which "
            "already mirrors elsewhere (Istio holds one mirror per route)"
        )

    def ops(self, route: Mapping[str, Any], state: RouteState) -> list[dict[str, Any]]:
        return http_patch(route, self.services, state)

    def empty_filters(self, route: Mapping[str, Any]) -> tuple[int, ...] | None:
        return ()  # nothing of ours goes into a list of the owner's


class IstioRouter(PatchedRouteRouter):
    def __init__(
        self,
        api: client.ApiClient,
        lookup: RouteLookup | None,
        virtual_service: str,
        services: IstioServices,
    ) -> None:
        patcher = IstioPatcher(services)
        kind = ("VirtualService", KIND)
        super().__init__(api, lookup, services.namespace, virtual_service, kind, patcher)
