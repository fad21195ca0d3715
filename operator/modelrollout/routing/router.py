"""The traffic router protocol: one route state, one file per mesh or gateway.

The engine says what the route must carry as one RouteState; a router applies the
parts it supports and declares them, so a spec asking for more is refused up front
(InvalidSpec naming the router and what it lacks) instead of being half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping
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
