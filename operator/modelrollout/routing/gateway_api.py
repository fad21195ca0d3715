"""Gateway API HTTPRoute: weights, a mirror and a header route, and nothing else.

HTTPRoute's `rules` and `backendRefs` are atomic lists, so server-side apply cannot own
just a weight: applying would take the whole list from its owner (Helm, Argo CD).
Instead a JSON patch (httproute_patch) changes exactly our fields, filter and rules,
guarded by a `test` of the rules as read, so a concurrent edit (or a stale cache) fails
the patch rather than moving traffic to the wrong Service or adding ours twice. The
operator's field manager is named.

The route is read from the watch-fed cache when HTTPRoutes are watched (RouteLookup),
else from the API server; a write is verified on the API server's answer either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import FIELD_MANAGER, Reason
from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.httproute_patch import BackendRef, find_backend_refs, route_patch
from modelrollout.routing.router import RouteError

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"

# (namespace, name) -> the route as the cache last saw it, or None if it does not exist
RouteLookup = Callable[[str, str], Mapping[str, Any] | None]


def route_of(spec: Mapping[str, Any]) -> str | None:
    """The HTTPRoute a raw ModelDeployment spec writes to (for wake-ups on its changes)."""
    gateway = (spec.get("traffic") or {}).get("gatewayAPI") or {}
    name = gateway.get("httpRoute")
    return name if isinstance(name, str) else None


class GatewayAPIRouter:
    supports: frozenset[RouteFeature] = frozenset({"weights", "mirror", "headerRoute"})

    def __init__(
        self,
        api: client.ApiClient,
        lookup: RouteLookup | None,
        namespace: str,
        route: str,
        stable: str,
        canary: str,
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.lookup = lookup
        self.namespace, self.route = namespace, route
        self.stable, self.canary = stable, canary
        self.name = f"HTTPRoute {namespace}/{route}"
        self._checked: Mapping[str, Any] | None = None

    def _read(self, fresh: bool = False) -> Mapping[str, Any]:
        """The route from the cache, or from the API server when not watched or `fresh`."""
        if self.lookup is not None and not fresh:
            route = self.lookup(self.namespace, self.route)
        else:
            try:
                route = cast(
                    dict[str, Any],
                    self.custom.get_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, PLURAL, self.route
                    ),
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                route = None
        if route is None:
            raise RouteError(
                Reason.ROUTE_NOT_FOUND, f"HTTPRoute {self.namespace}/{self.route} not found"
            )
        return route

    def _refs(self, route: Mapping[str, Any]) -> list[BackendRef]:
        refs = find_backend_refs(route, self.stable, self.canary)
        if not refs:
            raise RouteError(
                Reason.ROUTE_INVALID,
                f"HTTPRoute {self.namespace}/{self.route} has no rule with backendRefs to both "
                f"Services {self.stable} and {self.canary}",
            )
        return refs

    def check(self) -> None:
        self._checked = self._read()
        self._refs(self._checked)

    def apply(self, state: RouteState) -> None:
        for attempt in range(2):
            # First the route check() read; after a conflict, the API server's copy (the
            # cache may not have seen the change that caused it yet).
            route, self._checked = (self._checked or self._read(fresh=True)), None
            self._refs(route)
            ops = route_patch(route, self.stable, self.canary, state)
            if not ops:
                return
            try:
                patched = self.custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    self.route,
                    ops,
                    field_manager=FIELD_MANAGER,
                    _content_type="application/json-patch+json",
                )
            except ApiException as exc:
                if exc.status in (409, 422) and attempt == 0:
                    continue  # the route changed under us: read it again
                if exc.status == 422:
                    raise RouteError(
                        Reason.ROUTE_INVALID,
                        f"{self.name}: the API server refused {state.describe()}: "
                        f"{api_message(exc) or f'{exc.status} {exc.reason}'}",
                    ) from exc
                raise
            if not route_patch(cast(dict[str, Any], patched), self.stable, self.canary, state):
                return
            raise RouteError(Reason.ROUTE_INVALID, f"{self.name}: {state.describe()} did not stick")


def api_message(exc: ApiException) -> str | None:
    """What the API server said, in its own words (bounded), if it said anything."""
    try:
        return str(json.loads(exc.body or "")["message"])[:500]
    except (TypeError, ValueError, KeyError):
        return None
