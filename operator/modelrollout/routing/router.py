"""The traffic router protocol: one route state, one file per mesh or gateway.

The engine says what the route must carry as one RouteState; a router applies the
parts it supports and declares them, so a spec asking for more is refused up front
(InvalidSpec naming the router and what it lacks) instead of being half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from modelrollout.api.vocabulary import Reason
from modelrollout.engine.model import RouteFeature, RouteState

# (namespace, name) -> the route as the cache last saw it, or None if it does not exist
RouteLookup = Callable[[str, str], Mapping[str, Any] | None]


class RouteKind(NamedTuple):
    """The resource a router writes to, which the operator watches."""

    group: str
    version: str
    plural: str


class RouteError(Exception):
    """The route cannot carry the state (missing, not wired to our Services, or lacking
    a feature the spec asks for)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class RouteConflict(Exception):
    """The route changed since it was read (its owner, another writer, or our own last
    write not yet seen): the decision is not applied again; the next one is made on the
    newest route."""


class Router(Protocol):
    name: str
    supports: frozenset[RouteFeature]

    def check(self, needed: Mapping[RouteFeature, str]) -> None:
        """Raise RouteError unless the route exists, can carry our Services' traffic and
        can hold what `needed` asks of it (a rule limit, say)."""
        ...

    def carries(self, state: RouteState) -> bool:
        """The route as read carries `state` (a step is done only once it does)."""
        ...

    def empty_filter_lists(self) -> tuple[int, ...] | None:
        """Weighted rules whose owner wrote an empty filters list (RouteState's
        `empty_filters`), or None while our mirror is on the route."""
        ...

    def apply(self, state: RouteState) -> None:
        """Make the route carry `state`, writing only on a difference; verify the write.
        RouteConflict when the route changed since it was read: never re-applied."""
        ...


def require_features(router: Router, needed: Mapping[RouteFeature, str]) -> None:
    """`needed`: each feature the spec asks for, with what asks for it (a step)."""
    missing = [
        f"{where} needs {feature}"
        for feature, where in needed.items()
        if feature not in router.supports
    ]
    if missing:
        raise RouteError(
            Reason.INVALID_SPEC,
            f"{'; '.join(missing)} from its router, which {router.name} does not support",
        )
