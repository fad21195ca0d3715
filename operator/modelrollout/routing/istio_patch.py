"""The HTTP routes an Istio VirtualService needs to carry a RouteState: ours changed,
everything else exactly as read. Pure.

A VirtualService's `http` is an ordered list (Istio takes the first entry that matches)
and atomic (no list type), so the router replaces it whole, guarded by a `test` of the
list as read (patched_route.py); what differs is only what follows, on every HTTP route
(or the one the spec names) whose destinations are exactly our two Services, each once
(a "weighted route"):
- the two destinations' `weight` (an absent weight is 0, as Istio reads it);
- a mirror: `mirror` to the canary Service (its host and port as the route names
  them) with `mirrorPercentage`, removed when it ends. Istio holds one mirror per
  route, so a weighted route that already mirrors elsewhere cannot hold ours: the
  router refuses the step up front (`owners_mirror`);
- a header route: an HTTP route named `modelrollout-<canary>-<n>` inserted just ahead
  of its weighted route, repeating that route's matches with our headers added (keys
  lowercase, as Istio requires) and its settings (timeout, retries, fault injection,
  header edits, rewrite, CORS), sent to the canary alone; removed when it ends.
A destination names a Service by its short name, `<name>.<namespace>`, or a fully
qualified `<name>.<namespace>.svc.<cluster domain>`; a route to the same Service in
another namespace is not ours.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelrollout.engine.model import RouteState
from modelrollout.routing.gateway_patch import RULE_PREFIX

# An HTTP route's settings a header route repeats (its match, destinations and mirror
# are its own; redirect, directResponse and delegate never sit beside a `route`).
SETTINGS = ("timeout", "retries", "fault", "headers", "rewrite", "corsPolicy")


@dataclass(frozen=True)
class IstioServices:
    """Our Services as a VirtualService's destinations name them."""

    namespace: str
    stable: str
    canary: str
    http_route: str | None = None  # the one HTTP route to manage, if the spec names one

    def side(self, destination: Mapping[str, Any]) -> str | None:
        """`stable` or `canary` if `destination` is one of our Services."""
        host = str(destination.get("host") or "")
        for side, name in (("stable", self.stable), ("canary", self.canary)):
            local = (name, f"{name}.{self.namespace}", f"{name}.{self.namespace}.svc")
            if host in local or host.startswith(f"{name}.{self.namespace}.svc."):
                return side
        return None

    def describe(self) -> str:
        """What a VirtualService must have, as in "has no <this>"."""
        named = f" named {self.http_route}" if self.http_route else ""
        return (
            f"HTTP route{named} whose destinations are exactly the Services {self.stable} "
            f"and {self.canary}"
        )

    def is_ours(self, entry: Mapping[str, Any]) -> bool:
        """An HTTP route we added (a header route), by its name."""
        pattern = rf"^{re.escape(RULE_PREFIX + self.canary)}-\d+$"
        return re.match(pattern, str(entry.get("name") or "")) is not None

    def weighted(self, entry: Mapping[str, Any]) -> bool:
        if self.is_ours(entry):
            return False
        if self.http_route is not None and entry.get("name") != self.http_route:
            return False
        sides = [self.side(item.get("destination") or {}) for item in entry.get("route") or []]
        return sorted(s or "" for s in sides) == ["canary", "stable"]


def http_routes(vs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(vs.get("spec", {}).get("http") or [])


def weighted_routes(vs: Mapping[str, Any], ours: IstioServices) -> list[int]:
    return [i for i, entry in enumerate(http_routes(vs)) if ours.weighted(entry)]


def _canary_item(entry: Mapping[str, Any], ours: IstioServices) -> dict[str, Any]:
    return next(
        dict(item)
        for item in entry.get("route") or []
        if ours.side(item.get("destination") or {}) == "canary"
    )


def _is_our_mirror(entry: Mapping[str, Any], ours: IstioServices) -> bool:
    return ours.side(entry.get("mirror") or {}) == "canary"


def owners_mirror(vs: Mapping[str, Any], ours: IstioServices) -> str | None:
    """The name (or index) of a weighted route that mirrors elsewhere already."""
    for i in weighted_routes(vs, ours):
        entry = http_routes(vs)[i]
        if entry.get("mirrors") or ("mirror" in entry and not _is_our_mirror(entry, ours)):
            return str(entry.get("name") or f"#{i}")
    return None


def wanted_http(
    vs: Mapping[str, Any], ours: IstioServices, state: RouteState
) -> list[dict[str, Any]]:
    """The `http` list that carries `state`; equal to the list as read if it does."""
    out: list[dict[str, Any]] = []
    n = 0
    for entry in http_routes(vs):
        if ours.is_ours(entry):
            continue
        if not ours.weighted(entry):
            out.append(entry)
            continue
        if state.header_route:
            out.append(_header_route(f"{RULE_PREFIX}{ours.canary}-{n}", entry, ours, state))
            n += 1
        out.append(_weighted(entry, ours, state))
    return out


def _weighted(entry: Mapping[str, Any], ours: IstioServices, state: RouteState) -> dict[str, Any]:
    body = copy.deepcopy(dict(entry))
    for item in body["route"]:
        side = ours.side(item.get("destination") or {})
        weight = state.canary_weight if side == "canary" else 100 - state.canary_weight
        if int(item.get("weight") or 0) != weight:
            item["weight"] = weight
    if state.mirror:
        destination = _canary_item(entry, ours)["destination"]
        mirror = {k: destination[k] for k in ("host", "port") if k in destination}
        if body.get("mirror") != mirror:
            body["mirror"] = mirror
        if float((body.get("mirrorPercentage") or {}).get("value", -1)) != state.mirror:
            body["mirrorPercentage"] = {"value": state.mirror}
    elif _is_our_mirror(body, ours):
        body.pop("mirror")
        body.pop("mirrorPercentage", None)
    return body


def _header_route(
    name: str, entry: Mapping[str, Any], ours: IstioServices, state: RouteState
) -> dict[str, Any]:
    headers = {
        h.name.lower(): {"exact" if h.type == "Exact" else "regex": h.value}
        for h in state.header_route
    }
    matches = [
        {**match, "headers": {**(match.get("headers") or {}), **headers}}
        for match in entry.get("match") or [{}]
    ]
    canary = _canary_item(entry, ours)
    canary.pop("weight", None)
    body: dict[str, Any] = {"name": name, "match": matches, "route": [canary]}
    body.update({key: entry[key] for key in SETTINGS if key in entry})
    return body


def http_patch(
    vs: Mapping[str, Any], ours: IstioServices, state: RouteState
) -> list[dict[str, Any]]:
    """The guarded JSON patch that makes `vs` carry `state`: none if it does."""
    read = http_routes(vs)
    wanted = wanted_http(vs, ours, state)
    if wanted == read:
        return []
    return [
        {"op": "test", "path": "/spec/http", "value": read},
        {"op": "replace", "path": "/spec/http", "value": wanted},
    ]
