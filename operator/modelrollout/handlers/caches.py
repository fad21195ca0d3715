"""Watch-fed caches (kopf indices) of what each ModelDeployment depends on, and wake-ups
when any of it changes.

kopf lists and watches each kind once for the whole operator and fills the indices
before any other handler runs, so a ModelDeployment is never decided on an empty
cache at startup. Every handler here is async and cheap: it runs on the event loop,
with no thread pool to queue behind.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

import kopf

from modelrollout.api import inference_pool
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.engine.queue import Contender
from modelrollout.handlers import telemetry
from modelrollout.handlers.rollout_slots import contender
from modelrollout.routing import registry
from modelrollout.routing.router import RouteKind, RouteLookup
from modelrollout.workloads.observed import (
    Owned,
    owner_key,
    summarize_deployment,
    summarize_endpoint_slice,
    summarize_service,
)
from modelrollout.workloads.render import LABEL_NAME

Key = tuple[str, str]  # (namespace, name) of a ModelDeployment
Cache = kopf.Index[Key, dict[str, Any]]  # summaries by the ModelDeployment they belong to
POOLS = (inference_pool.GROUP, inference_pool.VERSION, inference_pool.PLURAL)
OURS = {LABEL_NAME: kopf.PRESENT}  # Deployments, Services, EndpointSlices, InferencePools
# The kinds the operator owns objects of: their watches take only objects labelled as
# some ModelDeployment's, selected by the API server (handlers.main), so the objects of
# other applications are never sent to the operator. EndpointSlices carry the label
# because the endpoint-slice controller copies a Service's labels onto its slices.
OWNED_KINDS = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("discovery.k8s.io", "v1", "endpointslices"),
    POOLS,
)
RouteKey = tuple[str, str, str]  # (namespace, plural, name) of a route


class RoutesWatched(Protocol):
    routes_served: frozenset[str]  # the route kinds (plurals) served, so watched
    route_selector: str | None  # watched only if labelled so


class Wakes:
    """One asyncio.Event per running ModelDeployment loop, and who uses which route."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}
        self._route_users: dict[RouteKey, set[Key]] = defaultdict(set)
        self._route_of: dict[Key, RouteKey] = {}

    def event(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def wake(self, key: Key | None) -> None:
        if key is not None and key in self._events:
            self._events[key].set()

    def uses_route(self, key: Key, route: tuple[RouteKind, str] | None) -> None:
        old = self._route_of.pop(key, None)
        if old is not None:
            self._route_users[old].discard(key)
        if route is not None:
            kind, name = route
            self._route_of[key] = (key[0], kind.plural, name)
            self._route_users[self._route_of[key]].add(key)

    def wake_route_users(self, route: RouteKey) -> bool:
        """Wake the ModelDeployments naming `route`; whether any does."""
        users = self._route_users.get(route, ())
        for key in users:
            self.wake(key)
        return bool(users)

    def forget(self, key: Key) -> None:
        self._events.pop(key, None)
        self.uses_route(key, None)


def _key(body: Mapping[str, Any]) -> Key:
    meta = body["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@kopf.index("apps", "v1", "deployments", labels=OURS)
async def owned_deployments(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    key = owner_key(body)
    return {key: summarize_deployment(body)} if key else {}


@kopf.index("v1", "services", labels=OURS)
async def owned_services(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    key = owner_key(body)
    return {key: summarize_service(body)} if key else {}


@kopf.index("discovery.k8s.io", "v1", "endpointslices", labels=OURS)
async def owned_endpoint_slices(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    key = owner_key(body)
    return {key: summarize_endpoint_slice(body)} if key else {}


@kopf.index(*POOLS, labels=OURS)
async def owned_pools(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    key = owner_key(body)
    return {key: summarize_service(body)} if key else {}


def routes_index(kind: RouteKind) -> str:
    return f"routes_{kind.plural}"


async def routes(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    """Whole routes (without managedFields): the router patches by position in them."""
    route = {k: v for k, v in body.items() if k != "metadata"}
    route["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return {_key(body): route}


async def route_changed(
    body: kopf.Body, resource: kopf.Resource, memo: kopf.Memo, **_: Any
) -> None:
    namespace, name = _key(body)
    named = memo.runtime.wakes.wake_route_users((namespace, resource.plural, name))
    telemetry.WATCH_EVENTS.labels(resource.plural, "true" if named else "false").inc()


# Every kind of route a router writes to (routing.registry): an index and a wake-up each.
for _kind in registry.route_kinds():
    kopf.index(*_kind, id=routes_index(_kind))(routes)
    kopf.on.event(*_kind, id=f"route_changed_{_kind.plural}")(route_changed)


FLEET = "fleet"


@kopf.index(GROUP, VERSION, PLURAL)
async def fleet(body: kopf.Body, **_: Any) -> dict[str, Contender]:
    """Every ModelDeployment as the rollout slots see it (handlers.rollout_slots)."""
    return {FLEET: contender(body)}


def fleet_snapshot(indices: Mapping[str, Any]) -> list[Contender]:
    """Taken on the event loop, for a reconcile that may start a rollout."""
    return list(indices["fleet"].get(FLEET, ()))


# Wake-ups. DELETED events come here too (indices drop the object themselves). No label
# filter here: every event the watches deliver is counted, so what the API server's
# selector kept away is measured (none of another application's objects).
@kopf.on.event("apps", "v1", "deployments")
@kopf.on.event("v1", "services")
@kopf.on.event("discovery.k8s.io", "v1", "endpointslices")
@kopf.on.event(*POOLS)
async def owned_changed(
    body: kopf.Body, resource: kopf.Resource, memo: kopf.Memo, **_: Any
) -> None:
    ours = LABEL_NAME in body.metadata.labels
    telemetry.WATCH_EVENTS.labels(resource.plural, "true" if ours else "false").inc()
    if ours:
        memo.runtime.wakes.wake(owner_key(body))


@kopf.on.event(GROUP, VERSION, PLURAL)
async def model_deployment_changed(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    key, wakes, slots = _key(body), memo.runtime.wakes, memo.runtime.slots
    if event["type"] == "DELETED":
        wakes.forget(key)
        telemetry.forget(*key)
        freed = slots.forget(key)
    else:
        wakes.uses_route(key, registry.route_of(body.get("spec") or {}))
        wakes.wake(key)
        freed = slots.seen(contender(body)) if slots.limits.any() else []
    for waiting in freed:  # a slot is free: the line moves
        wakes.wake(waiting)


def snapshot(
    key: Key,
    spec: Mapping[str, Any],
    indices: Mapping[str, Any],
    pools_watched: bool,
    routes: RoutesWatched,
) -> tuple[Owned, RouteLookup | None]:
    """What the caches hold for one ModelDeployment: its owned objects' summaries and the
    route its spec names (a lookup; None when that route is not watched: the router
    reads the API server). Taken on the event loop; the reconcile then reads it in a
    worker thread while the indices keep changing."""
    deployments: Cache = indices["owned_deployments"]
    services: Cache = indices["owned_services"]
    slices: Cache = indices["owned_endpoint_slices"]
    pools: Cache = indices["owned_pools"]
    owned = Owned(
        tuple(deployments.get(key, ())),
        tuple(services.get(key, ())),
        tuple(slices.get(key, ())),
        tuple(pools.get(key, ())),
        pools_watched,
    )
    named = registry.route_of(spec)
    if named is None or named[0].plural not in routes.routes_served:
        return owned, None
    kind, name = named
    cache: Cache = indices[routes_index(kind)]
    found = list(cache.get((key[0], name), ()))
    if not found and routes.route_selector:
        return owned, None  # maybe there, but not labelled as the operator watches
    route = found[0] if found else None
    return owned, lambda _namespace, _name: route
