"""The traffic router protocol: one small interface, one file per mesh or gateway."""

from __future__ import annotations

from typing import Protocol


class RouteError(Exception):
    """The route cannot carry the split (missing, or not wired to our Services)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Router(Protocol):
    def check(self) -> None:
        """Raise RouteError unless the route exists and references both Services."""
        ...

    def set_weight(self, canary: int) -> None:
        """Give the canary Service `canary` percent and stable the rest; verify the write."""
        ...
