"""The JSON patch that makes an HTTPRoute carry a RouteState, touching nothing else.

Pure: (the route as read, our Services, the state) -> patch operations; no operations
means the route already carries the state, which is also how a write is verified.

What we write, in Gateway API's own terms, on every rule with backendRefs to both our
Services (a "weighted rule"):
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

# What Argo CD and people can select on: every rule we add is named with this prefix.
RULE_PREFIX = "modelrollout-"
# HTTPRoute's spec.rules holds at most this many (maxItems in Gateway API's CRD).
MAX_RULES = 16
_ROOT_MATCH = {"path": {"type": "PathPrefix", "value": "/"}}  # Gateway API's default


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


def _header_rule_name(canary: str, n: int) -> str:
    return f"{RULE_PREFIX}{canary}-{n}"


def _ours(canary: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(RULE_PREFIX + canary)}-\d+$")


def rules_with_header_route(route: Mapping[str, Any], stable: str, canary: str) -> int:
    """How many rules the route has while our header route is on it: its rules besides
    ours, and one of ours per weighted rule."""
    rules = route.get("spec", {}).get("rules") or []
    ours = _ours(canary)
    theirs = sum(1 for rule in rules if not ours.match(rule.get("name") or ""))
    return theirs + len({ref.rule for ref in find_backend_refs(route, stable, canary)})


def route_patch(
    route: Mapping[str, Any], stable: str, canary: str, state: RouteState
) -> list[dict[str, Any]]:
    """Operations that make `route` carry `state`; in place first, then removals from
    the highest index down, then appends, so every index stays valid as they apply."""
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    refs = find_backend_refs(route, stable, canary)
    weighted = sorted({ref.rule for ref in refs})
    ops = _weight_ops(refs, stable, state.canary_weight)
    for r in weighted:
        ops += _mirror_ops(r, rules[r], canary, state.mirror, r in state.empty_filters)
    wanted: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(weighted if state.header_route else []):
        name = _header_rule_name(canary, n)
        wanted[name] = _header_rule(name, rules[r], canary, state)
    ours = _ours(canary)
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
        weight = 100 - canary_weight if ref.service == stable else canary_weight
        if ref.weight == weight:
            continue
        path = f"/spec/rules/{ref.rule}/backendRefs/{ref.index}/weight"
        ops.append({"op": "add", "path": path, "value": weight})
    return ops


def _canary_ref(rule: Mapping[str, Any], canary: str) -> dict[str, Any]:
    return next(dict(ref) for ref in rule.get("backendRefs") or [] if ref.get("name") == canary)


def _is_our_mirror(entry: Mapping[str, Any], canary: str) -> bool:
    backend = (entry.get("requestMirror") or {}).get("backendRef") or {}
    return (
        entry.get("type") == "RequestMirror"
        and backend.get("name") == canary
        and backend.get("kind", "Service") == "Service"
        and backend.get("group", "") == ""
    )


def _mirror_filter(rule: Mapping[str, Any], canary: str, percent: int) -> dict[str, Any]:
    ref = _canary_ref(rule, canary)
    backend = {"group": "", "kind": "Service", "name": canary, "port": ref.get("port")}
    if ref.get("namespace") is not None:
        backend["namespace"] = ref["namespace"]
    return {"type": "RequestMirror", "requestMirror": {"backendRef": backend, "percent": percent}}


def empty_filters(route: Mapping[str, Any], stable: str, canary: str) -> tuple[int, ...] | None:
    """The weighted rules whose `filters` is an empty list; None while a mirror of ours
    is on the route (then the owner's shape of those lists cannot be seen)."""
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    weighted = sorted({ref.rule for ref in find_backend_refs(route, stable, canary)})
    if any(_is_our_mirror(f, canary) for r in weighted for f in rules[r].get("filters") or []):
        return None
    return tuple(r for r in weighted if rules[r].get("filters") == [])


def _mirror_ops(
    r: int, rule: Mapping[str, Any], canary: str, percent: int, owner_empty: bool
) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] | None = rule.get("filters")
    base = f"/spec/rules/{r}/filters"
    index = next((i for i, f in enumerate(filters or []) if _is_our_mirror(f, canary)), None)
    want = _mirror_filter(rule, canary, percent) if percent else None
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
    name: str, rule: Mapping[str, Any], canary: str, state: RouteState
) -> dict[str, Any]:
    """The weighted rule's matches with our headers added, sent to the canary alone; its
    other filters and timeouts apply as they do to the weighted rule."""
    headers = [{"name": h.name, "type": h.type, "value": h.value} for h in state.header_route]
    matches = [
        {**match, "headers": [*(match.get("headers") or []), *headers]}
        for match in rule.get("matches") or [_ROOT_MATCH]
    ]
    body: dict[str, Any] = {
        "name": name,
        "matches": matches,
        "backendRefs": [{**_canary_ref(rule, canary), "weight": 1}],
    }
    filters = [f for f in rule.get("filters") or [] if not _is_our_mirror(f, canary)]
    if filters:
        body["filters"] = filters
    if "timeouts" in rule:
        body["timeouts"] = rule["timeouts"]
    return body
