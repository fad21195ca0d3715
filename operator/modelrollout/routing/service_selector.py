"""No router: all traffic reaches the stable Service, whose selector a blue/green switch
moves (workloads/). There are no weights to set, so it supports no route feature."""

from __future__ import annotations

from collections.abc import Mapping

from modelrollout.engine.model import RouteFeature, RouteState


class ServiceSelectorOnly:
    name = "no router (the stable Service's selector)"
    supports: frozenset[RouteFeature] = frozenset()

    def check(self, needed: Mapping[RouteFeature, str]) -> None:
        return None

    def carries(self, state: RouteState) -> bool:
        return True  # nothing to carry beyond the Services

    def empty_filter_lists(self) -> tuple[int, ...] | None:
        return ()

    def apply(self, state: RouteState) -> None:
        return None  # the Services' selectors carry the switch
