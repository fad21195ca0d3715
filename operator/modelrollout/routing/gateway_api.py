"""Gateway API HTTPRoute: the weights of the stable and canary backendRefs, and nothing else.

HTTPRoute's `rules` and `backendRefs` are atomic lists, so server-side apply cannot own
just a weight: applying would take the whole list from its owner (Helm, Argo CD).
Instead a JSON patch replaces exactly the weight fields, guarded by `test` operations
on the backendRef names, so a concurrent edit that reorders refs fails the patch
rather than moving traffic to the wrong Service. The operator's field manager is named.

The route is read from the watch-fed cache when HTTPRoutes are watched (RouteLookup),
else from the API server; a write is verified on the API server's answer either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import FIELD_MANAGER, Reason
from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.router import RouteError

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"

# (namespace, name) -> the route as the cache last saw it, or None if it does not exist
RouteLookup = Callable[[str, str], Mapping[str, Any] | None]


def route_of(spec: Mapping[str, Any]) -> str | None:
    """The HTTPRoute a raw ModelDeployment spec writes to (for wake-ups on its changes)."""
    gateway = (spec.get("traffic") or {}).get("gatewayAPI") or {}
    name = gateway.get("httpRoute")
    return name if isinstance(name, str) else None


@dataclass(frozen=True)
class BackendRef:
    rule: int
    index: int
    service: str
    weight: int


def find_backend_refs(route: Mapping[str, Any], stable: str, canary: str) -> list[BackendRef]:
    """The backendRefs to our Services in every rule that references both of them."""
    found: list[BackendRef] = []
    for r, rule in enumerate(route.get("spec", {}).get("rules") or []):
        refs = [
            BackendRef(r, i, ref["name"], int(ref.get("weight", 1)))
            for i, ref in enumerate(rule.get("backendRefs") or [])
            if ref.get("name") in (stable, canary)
            and ref.get("kind", "Service") == "Service"
            and ref.get("group", "") == ""
            and ref.get("namespace") in (None, route["metadata"].get("namespace"))
        ]
        if {ref.service for ref in refs} == {stable, canary}:
            found += refs
    return found


def weight_patch(refs: list[BackendRef], stable: str, canary_weight: int) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for ref in refs:
        base = f"/spec/rules/{ref.rule}/backendRefs/{ref.index}"
        weight = 100 - canary_weight if ref.service == stable else canary_weight
        ops.append({"op": "test", "path": f"{base}/name", "value": ref.service})
        ops.append({"op": "add", "path": f"{base}/weight", "value": weight})
    return ops


class GatewayAPIRouter:
    supports: frozenset[RouteFeature] = frozenset({"weights"})

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
        canary = state.canary_weight
        for attempt in range(2):
            # First the route check() read; after a conflict, the API server's copy (the
            # cache may not have seen the change that caused it yet).
            route, self._checked = (self._checked or self._read(fresh=True)), None
            refs = self._refs(route)
            if all(
                r.weight == (canary if r.service == self.canary else 100 - canary) for r in refs
            ):
                return
            try:
                patched = self.custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    self.route,
                    weight_patch(refs, self.stable, canary),
                    field_manager=FIELD_MANAGER,
                    _content_type="application/json-patch+json",
                )
            except ApiException as exc:
                if exc.status in (409, 422) and attempt == 0:
                    continue  # the route changed under us: read it again
                raise
            written = find_backend_refs(cast(dict[str, Any], patched), self.stable, self.canary)
            if written and all(
                r.weight == (canary if r.service == self.canary else 100 - canary) for r in written
            ):
                return
            raise RouteError(
                Reason.ROUTE_INVALID,
                f"HTTPRoute {self.namespace}/{self.route}: weights did not stick "
                f"(wanted canary {canary}%)",
            )
