"""The JSON patch that makes an HTTPRoute or a GRPCRoute carry a RouteState, touching
nothing else.

Pure: (the route as read, our backends, the state) -> patch operations; no operations
means the route already carries the state, which is also how a write is verified.

Our backends are the two Services, or the two InferencePools of the same names
(`Backends`). What we write, in Gateway API's own terms, on every rule with backendRefs
to both of them (a "weighted rule"):
- the two backendRefs' `weight`;
- a mirror: one `RequestMirror` filter (`percent`) to the canary Service, appended to
  the rule's filters, replaced in place, and removed when it ends (with the `filters`
  list itself if ours was its only entry, so nothing is left behind, unless the owner
  wrote that list empty: `RouteState.empty_filters`, seen before our mirror came);
- a header route: one rule per weighted rule, named `modelrollout-<canary>-<n>`, that
  repeats the weighted rule's matches with our headers added and sends them to the
  canary. More header matches make a rule more specific, so Gateway API's precedence
  gives it those requests whatever the weights; it is appended, replaced in place, and
  removed when the route ends.
The two kinds differ only in what a rule without matches matches (every path, every
method) and what else a header rule repeats from its weighted rule (`RouteType`).
A patch starts with a `test` of the whole rule list as read: if the route changed since
(an edit by its owner, a successor leader, or our own last write not yet in the
watch-fed cache), the patch fails as a whole, instead of landing on the wrong rule or
adding a second copy of ours, and the next decision is made on the newest route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelrollout.engine.model import RouteState
from modelrollout.routing.router import RouteKind

# What Argo CD and people can select on: every rule we add is named with this prefix.
RULE_PREFIX = "modelrollout-"
# A route's spec.rules holds at most this many (maxItems in Gateway API's CRDs).
MAX_RULES = 16


@dataclass(frozen=True)
class RouteType:
    """What differs between Gateway API's route kinds, for our patch."""

    kind: str  # as users read it
    resource: RouteKind
    every_request: Mapping[str, Any]  # the match a rule without matches has
    rule_settings: tuple[str, ...]  # what else a header rule repeats of its weighted rule


_GROUP, _VERSION = "gateway.networking.k8s.io", "v1"
HTTP_ROUTE = RouteType(
    "HTTPRoute",
    RouteKind(_GROUP, _VERSION, "httproutes"),
    {"path": {"type": "PathPrefix", "value": "/"}},
    ("timeouts",),
)
# A GRPCRoute match without a method matches every service and method.
GRPC_ROUTE = RouteType("GRPCRoute", RouteKind(_GROUP, _VERSION, "grpcroutes"), {}, ())


@dataclass(frozen=True)
class Backends:
    """Our two backends as the route names them: Services (Gateway API's default kind) or
    InferencePools. A mirror always goes to the canary Service: Gateway API's
    RequestMirror to an InferencePool is not portable (gateways refuse it), and the
    canary Service selects the same pods as the canary pool."""

    stable: str
    canary: str
    group: str = ""
    kind: str = "Service"
    service_port: int | None = None  # the canary Service's, for a mirror beside pools

    def names(self, ref: Mapping[str, Any], namespace: str | None) -> str | None:
        """The backend `ref` names, if it is one of ours."""
        ours = (
            ref.get("name") in (self.stable, self.canary)
            and ref.get("kind", "Service") == self.kind
            and ref.get("group", "") == self.group
            and ref.get("namespace") in (None, namespace)
        )
        return str(ref["name"]) if ours else None

    def describe(self) -> str:
        kind = "Services" if self.kind == "Service" else f"{self.kind}s"
        return f"{kind} {self.stable} and {self.canary}"


@dataclass(frozen=True)
class BackendRef:
    rule: int
    index: int
    backend: str
    weight: int


def find_backend_refs(route: Mapping[str, Any], backends: Backends) -> list[BackendRef]:
    """The backendRefs to our backends in every rule that references both of them."""
    found: list[BackendRef] = []
    namespace = route["metadata"].get("namespace")
    for r, rule in enumerate(route.get("spec", {}).get("rules") or []):
        refs = [
            BackendRef(r, i, name, int(ref.get("weight", 1)))
            for i, ref in enumerate(rule.get("backendRefs") or [])
            if (name := backends.names(ref, namespace)) is not None
        ]
        if {ref.backend for ref in refs} == {backends.stable, backends.canary}:
            found += refs
    return found


def _header_rule_name(canary: str, n: int) -> str:
    return f"{RULE_PREFIX}{canary}-{n}"


def _ours(canary: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(RULE_PREFIX + canary)}-\d+$")


def rules_with_header_route(route: Mapping[str, Any], backends: Backends) -> int:
    """How many rules the route has while our header route is on it: its rules besides
    ours, and one of ours per weighted rule."""
    rules = route.get("spec", {}).get("rules") or []
    ours = _ours(backends.canary)
    theirs = sum(1 for rule in rules if not ours.match(rule.get("name") or ""))
    return theirs + len({ref.rule for ref in find_backend_refs(route, backends)})


def route_patch(
    route: Mapping[str, Any],
    backends: Backends,
    state: RouteState,
    route_type: RouteType = HTTP_ROUTE,
) -> list[dict[str, Any]]:
    """Operations that make `route` carry `state`; in place first, then removals from
    the highest index down, then appends, so every index stays valid as they apply."""
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    refs = find_backend_refs(route, backends)
    weighted = sorted({ref.rule for ref in refs})
    ops = _weight_ops(refs, backends.stable, state.canary_weight)
    for r in weighted:
        ops += _mirror_ops(r, rules[r], backends, state.mirror, r in state.empty_filters)
    wanted: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(weighted if state.header_route else []):
        name = _header_rule_name(backends.canary, n)
        wanted[name] = _header_rule(name, rules[r], backends, state, route_type)
    ours = _ours(backends.canary)
    removals: list[dict[str, Any]] = []
    for r, rule in enumerate(rules):
        name = rule.get("name") or ""
        if not ours.match(name):
            continue
        if name not in wanted:
            removals = [{"op": "remove", "path": f"/spec/rules/{r}"}, *removals]
        elif (body := wanted.pop(name)) != rule:
            ops.append({"op": "replace", "path": f"/spec/rules/{r}", "value": body})
    ops += removals
    ops += [{"op": "add", "path": "/spec/rules/-", "value": body} for body in wanted.values()]
    return [{"op": "test", "path": "/spec/rules", "value": rules}, *ops] if ops else []


def _weight_ops(refs: list[BackendRef], stable: str, canary_weight: int) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for ref in refs:
        weight = 100 - canary_weight if ref.backend == stable else canary_weight
        if ref.weight == weight:
            continue
        path = f"/spec/rules/{ref.rule}/backendRefs/{ref.index}/weight"
        ops.append({"op": "add", "path": path, "value": weight})
    return ops


def _canary_ref(rule: Mapping[str, Any], backends: Backends) -> dict[str, Any]:
    return next(
        dict(ref)
        for ref in rule.get("backendRefs") or []
        if ref.get("name") == backends.canary
        and ref.get("kind", "Service") == backends.kind
        and ref.get("group", "") == backends.group
    )


def _is_our_mirror(entry: Mapping[str, Any], canary: str) -> bool:
    """Our mirror: to the canary Service (named like the canary pool, beside pools)."""
    backend = (entry.get("requestMirror") or {}).get("backendRef") or {}
    return (
        entry.get("type") == "RequestMirror"
        and backend.get("name") == canary
        and backend.get("kind", "Service") == "Service"
        and backend.get("group", "") == ""
    )


def _mirror_filter(rule: Mapping[str, Any], backends: Backends, percent: int) -> dict[str, Any]:
    ref = _canary_ref(rule, backends)
    port = ref.get("port") if backends.kind == "Service" else backends.service_port
    backend = {"group": "", "kind": "Service", "name": backends.canary, "port": port}
    if ref.get("namespace") is not None:
        backend["namespace"] = ref["namespace"]
    return {"type": "RequestMirror", "requestMirror": {"backendRef": backend, "percent": percent}}


def empty_filters(route: Mapping[str, Any], backends: Backends) -> tuple[int, ...] | None:
    """The weighted rules whose `filters` is an empty list; None while a mirror of ours
    is on the route (then the owner's shape of those lists cannot be seen)."""
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    weighted = sorted({ref.rule for ref in find_backend_refs(route, backends)})
    canary = backends.canary
    if any(_is_our_mirror(f, canary) for r in weighted for f in rules[r].get("filters") or []):
        return None
    return tuple(r for r in weighted if rules[r].get("filters") == [])


def _mirror_ops(
    r: int, rule: Mapping[str, Any], backends: Backends, percent: int, owner_empty: bool
) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] | None = rule.get("filters")
    base = f"/spec/rules/{r}/filters"
    canary = backends.canary
    index = next((i for i, f in enumerate(filters or []) if _is_our_mirror(f, canary)), None)
    want = _mirror_filter(rule, backends, percent) if percent else None
    if index is None:
        if want is None:
            return []
        if filters is None:
            return [{"op": "add", "path": base, "value": [want]}]
        return [{"op": "add", "path": f"{base}/-", "value": want}]
    assert filters is not None
    if want is None:
        # Ours alone: the list goes too, as it came, unless its owner wrote it empty.
        whole = len(filters) == 1 and not owner_empty
        return [{"op": "remove", "path": base if whole else f"{base}/{index}"}]
    if filters[index] == want:
        return []
    return [{"op": "replace", "path": f"{base}/{index}", "value": want}]


def _header_rule(
    name: str, rule: Mapping[str, Any], backends: Backends, state: RouteState, route_type: RouteType
) -> dict[str, Any]:
    """The weighted rule's matches with our headers added, sent to the canary alone; its
    other filters and settings (an HTTPRoute's timeouts) apply as to the weighted rule."""
    headers = [{"name": h.name, "type": h.type, "value": h.value} for h in state.header_route]
    matches = [
        {**match, "headers": [*(match.get("headers") or []), *headers]}
        for match in rule.get("matches") or [route_type.every_request]
    ]
    body: dict[str, Any] = {
        "name": name,
        "matches": matches,
        "backendRefs": [{**_canary_ref(rule, backends), "weight": 1}],
    }
    filters = [f for f in rule.get("filters") or [] if not _is_our_mirror(f, backends.canary)]
    if filters:
        body["filters"] = filters
    body.update({key: rule[key] for key in route_type.rule_settings if key in rule})
    return body
