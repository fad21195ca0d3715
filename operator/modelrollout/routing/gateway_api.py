"""Gateway API HTTPRoute: the weights of the stable and canary backendRefs, and nothing else.

HTTPRoute's `rules` and `backendRefs` are atomic lists, so server-side apply cannot own
just a weight: applying would take the whole list from its owner (Helm, Argo CD).
Instead a JSON patch replaces exactly the weight fields, guarded by `test` operations
on the backendRef names, so a concurrent edit that reorders refs fails the patch
rather than moving traffic to the wrong Service. The operator's field manager is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import FIELD_MANAGER, Reason
from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.router import RouteError

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"


@dataclass(frozen=True)
class BackendRef:
    rule: int
    index: int
    service: str
    weight: int


def find_backend_refs(route: dict[str, Any], stable: str, canary: str) -> list[BackendRef]:
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
        self, api: client.ApiClient, namespace: str, route: str, stable: str, canary: str
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace, self.route = namespace, route
        self.stable, self.canary = stable, canary
        self.name = f"HTTPRoute {namespace}/{route}"
        self._checked: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        try:
            route = cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, self.route
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                raise RouteError(
                    Reason.ROUTE_NOT_FOUND,
                    f"HTTPRoute {self.namespace}/{self.route} not found",
                ) from exc
            raise
        return route

    def _refs(self, route: dict[str, Any]) -> list[BackendRef]:
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
            # The route read by check() this tick saves a second GET on the usual path.
            route, self._checked = (self._checked or self._read()), None
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
