"""A router that writes its route with one guarded JSON patch: the reading, writing,
verifying and conflict handling every such router shares; each kind of route brings
only its pure part (a `RoutePatcher`).

A route's lists are atomic (Gateway API's rules and backendRefs, Istio's HTTP routes),
so server-side apply cannot own just a weight: applying would take the whole list from
its owner (Helm, Argo CD). Instead a JSON patch changes exactly our fields, guarded by a
`test` of the list as read, so a concurrent edit (or a stale cache) fails the patch
rather than moving traffic to the wrong Service or adding ours twice. The operator's
field manager is named.

The route is read from the watch-fed cache when its kind is watched (RouteLookup), else
from the API server; a write is verified on the API server's answer either way. A
patch whose test fails is never applied again on a fresh read: the decision was made on
the route as read, so a route that moved (its owner, or a successor leader) is decided
on anew (RouteConflict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import FIELD_MANAGER, Reason
from modelrollout.api_answers import api_message
from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.router import RouteConflict, RouteError, RouteKind, RouteLookup


class RoutePatcher(Protocol):
    """The pure part of a router: the route as read in, words or patch operations out."""

    guarded: tuple[str, ...]  # the spec's path the patch tests (the list it decides on)

    def unwired(self, route: Mapping[str, Any]) -> str | None:
        """Why the route cannot carry our traffic (not wired to our backends), or None."""
        ...

    def cannot_hold(
        self, route: Mapping[str, Any], name: str, needed: Mapping[RouteFeature, str]
    ) -> str | None:
        """Why the route (called `name`) cannot hold what `needed` asks of it, or None."""
        ...

    def ops(self, route: Mapping[str, Any], state: RouteState) -> list[dict[str, Any]]:
        """Guarded JSON patch operations that make the route carry `state`: none if it does."""
        ...

    def empty_filters(self, route: Mapping[str, Any]) -> tuple[int, ...] | None:
        """See Router.empty_filter_lists."""
        ...


class PatchedRouteRouter:
    supports: frozenset[RouteFeature] = frozenset({"weights", "mirror", "headerRoute"})

    def __init__(
        self,
        api: client.ApiClient,
        lookup: RouteLookup | None,
        namespace: str,
        route: str,
        kind: tuple[str, RouteKind],  # as users read it, and the resource
        patcher: RoutePatcher,
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.lookup = lookup
        self.namespace, self.route = namespace, route
        self.resource, self.patcher = kind[1], patcher
        self.name = f"{kind[0]} {namespace}/{route}"
        self._checked: Mapping[str, Any] | None = None

    def _read(self, fresh: bool = False) -> Mapping[str, Any]:
        """The route from the cache, or from the API server when not watched or `fresh`."""
        if self.lookup is not None and not fresh:
            route = self.lookup(self.namespace, self.route)
        else:
            kind = self.resource
            try:
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

    def _wired(self, route: Mapping[str, Any]) -> None:
        why = self.patcher.unwired(route)
        if why is not None:
            raise RouteError(Reason.ROUTE_INVALID, f"{self.name} {why}")

    def check(self, needed: Mapping[RouteFeature, str]) -> None:
        self._checked = self._read()
        self._wired(self._checked)
        why = self.patcher.cannot_hold(self._checked, self.name, needed)
        if why is not None:
            raise RouteError(Reason.INVALID_SPEC, why)

    def carries(self, state: RouteState) -> bool:
        return not self.patcher.ops(self._checked or self._read(), state)

    def empty_filter_lists(self) -> tuple[int, ...] | None:
        return self.patcher.empty_filters(self._checked or self._read())

    def apply(self, state: RouteState) -> None:
        # The route check() read; a conflict is never answered by applying again (the
        # decision was made on what we read, and the world moved since).
        route, self._checked = (self._checked or self._read()), None
        self._wired(route)
        ops = self.patcher.ops(route, state)
        if not ops:
            return
        kind = self.resource
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
        if not self.patcher.ops(cast(dict[str, Any], patched), state):
            return
        raise RouteError(Reason.ROUTE_INVALID, f"{self.name}: {state.describe()} did not stick")

    def _moved(self, route: Mapping[str, Any]) -> bool:
        """The patch's test failed: the API server's guarded list differs from the one read."""
        path = self.patcher.guarded
        return bool(_at(self._read(fresh=True), path) != _at(route, path))


def _at(route: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    found: Any = route
    for key in path:
        found = found.get(key) if isinstance(found, Mapping) else None
    return found
