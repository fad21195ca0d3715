"""The traffic router protocol: one route state, one file per mesh or gateway.

The engine says what the route must carry as one RouteState; a router applies the
parts it supports and declares them, so a spec asking for more is refused up front
(InvalidSpec naming the router and what it lacks) instead of being half-applied.
"""

from __future__ import annotations

from typing import Protocol

from modelrollout.api.vocabulary import Reason
from modelrollout.engine.model import RouteFeature, RouteState


class RouteError(Exception):
    """The route cannot carry the state (missing, not wired to our Services, or lacking
    a feature the spec asks for)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Router(Protocol):
    name: str
    supports: frozenset[RouteFeature]

    def check(self) -> None:
        """Raise RouteError unless the route exists and can carry our Services' traffic."""
        ...

    def apply(self, state: RouteState) -> None:
        """Make the route carry `state`, writing only on a difference; verify the write."""
        ...


def require_features(router: Router, needed: frozenset[RouteFeature]) -> None:
    missing = needed - router.supports
    if missing:
        raise RouteError(
            Reason.INVALID_SPEC,
            f"the spec needs {', '.join(sorted(missing))} from its router, which "
            f"{router.name} does not support",
        )
