"""Gateway API HTTPRoute and GRPCRoute: weights, a mirror and a header route, and nothing
else.

A route's `rules` and `backendRefs` are atomic lists, so server-side apply cannot own
just a weight: applying would take the whole list from its owner (Helm, Argo CD).
Instead a JSON patch (gateway_patch) changes exactly our fields, filter and rules,
guarded by a `test` of the rules as read, so a concurrent edit (or a stale cache) fails
the patch rather than moving traffic to the wrong Service or adding ours twice. The
operator's field manager is named.

The route is read from the watch-fed cache when its kind is watched (RouteLookup),
else from the API server; a write is verified on the API server's answer either way.
A patch whose test fails is never applied again on a fresh read: the decision was made
on the route as read, so a route that moved (its owner, or a successor leader) is
decided on anew (RouteConflict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import FIELD_MANAGER, Reason
from modelrollout.api_answers import api_message
from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.gateway_patch import (
    GRPC_ROUTE,
    HTTP_ROUTE,
    MAX_RULES,
    BackendRef,
    Backends,
    RouteType,
    empty_filters,
    find_backend_refs,
    route_patch,
    rules_with_header_route,
)
from modelrollout.routing.router import RouteConflict, RouteError, RouteKind, RouteLookup

ROUTE_TYPES = {"httpRoute": HTTP_ROUTE, "grpcRoute": GRPC_ROUTE}  # spec key -> kind
KINDS = tuple(t.resource for t in ROUTE_TYPES.values())


def named_route(traffic: Mapping[str, Any]) -> tuple[RouteKind, str] | None:
    """The route a raw `spec.traffic.gatewayAPI` names (for the watch's wake-ups)."""
    for key, route_type in ROUTE_TYPES.items():
        name = traffic.get(key)
        if isinstance(name, str):
            return route_type.resource, name
    return None


class GatewayAPIRouter:
    supports: frozenset[RouteFeature] = frozenset({"weights", "mirror", "headerRoute"})

    def __init__(
        self,
        api: client.ApiClient,
        lookup: RouteLookup | None,
        namespace: str,
        route: str,
        backends: Backends,
        route_type: RouteType = HTTP_ROUTE,
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.lookup = lookup
        self.namespace, self.route = namespace, route
        self.backends, self.type = backends, route_type
        self.name = f"{route_type.kind} {namespace}/{route}"
        self._checked: Mapping[str, Any] | None = None

    def _read(self, fresh: bool = False) -> Mapping[str, Any]:
        """The route from the cache, or from the API server when not watched or `fresh`."""
        if self.lookup is not None and not fresh:
            route = self.lookup(self.namespace, self.route)
        else:
            try:
                kind = self.type.resource
                route = cast(
                    dict[str, Any],
                    self.custom.get_namespaced_custom_object(
                        kind.group, kind.version, self.namespace, kind.plural, self.route
                    ),
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                route = None
        if route is None:
            raise RouteError(Reason.ROUTE_NOT_FOUND, f"{self.name} not found")
        return route

    def _refs(self, route: Mapping[str, Any]) -> list[BackendRef]:
        refs = find_backend_refs(route, self.backends)
        if not refs:
            raise RouteError(
                Reason.ROUTE_INVALID,
                f"{self.name} has no rule with backendRefs to both {self.backends.describe()}",
            )
        return refs

    def check(self, needed: Mapping[RouteFeature, str]) -> None:
        self._checked = self._read()
        self._refs(self._checked)
        if "headerRoute" in needed:
            rules = rules_with_header_route(self._checked, self.backends)
            if rules > MAX_RULES:
                raise RouteError(
                    Reason.INVALID_SPEC,
                    f"{needed['headerRoute']} needs one more rule per weighted rule: "
                    f"{self.name} would have {rules} rules, and Gateway API allows "
                    f"{MAX_RULES}",
                )

    def carries(self, state: RouteState) -> bool:
        route = self._checked or self._read()
        return not route_patch(route, self.backends, state, self.type)

    def empty_filter_lists(self) -> tuple[int, ...] | None:
        return empty_filters(self._checked or self._read(), self.backends)

    def apply(self, state: RouteState) -> None:
        # The route check() read; a conflict is never answered by applying again (the
        # decision was made on what we read, and the world moved since).
        route, self._checked = (self._checked or self._read()), None
        self._refs(route)
        ops = route_patch(route, self.backends, state, self.type)
        if not ops:
            return
        kind = self.type.resource
        try:
            patched = self.custom.patch_namespaced_custom_object(
                kind.group,
                kind.version,
                self.namespace,
                kind.plural,
                self.route,
                ops,
                field_manager=FIELD_MANAGER,
                _content_type="application/json-patch+json",
            )
        except ApiException as exc:
            if exc.status in (409, 422) and self._moved(route):
                raise RouteConflict(
                    f"{self.name} changed since it was read; the next decision is made on "
                    "the newest"
                ) from exc
            if exc.status == 422:
                raise RouteError(
                    Reason.ROUTE_INVALID,
                    f"{self.name}: the API server refused {state.describe()}: "
                    f"{api_message(exc) or f'{exc.status} {exc.reason}'}",
                ) from exc
            raise
        if not route_patch(cast(dict[str, Any], patched), self.backends, state, self.type):
            return
        raise RouteError(Reason.ROUTE_INVALID, f"{self.name}: {state.describe()} did not stick")

    def _moved(self, route: Mapping[str, Any]) -> bool:
        """The patch's test failed: the API server's rules differ from those read."""
        fresh = self._read(fresh=True)
        return bool(fresh.get("spec", {}).get("rules") != route.get("spec", {}).get("rules"))
