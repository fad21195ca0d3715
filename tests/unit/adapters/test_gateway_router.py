"""The Gateway API router's writes: verified on the API server's answer, a conflict never
applied again, a refusal said in words, and a route that cannot hold a header route
refused up front (the API server stood in for by a fake)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.engine.model import RouteState
from modelrollout.routing.gateway_api import GatewayAPIRouter
from modelrollout.routing.gateway_patch import Backends
from modelrollout.routing.registry import route_kinds, route_of
from modelrollout.routing.router import RouteConflict, RouteError, RouteKind

STABLE, CANARY = "m-stable", "m-canary"


def stored_route() -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ml"},
        "spec": {
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"group": "", "kind": "Service", "name": STABLE, "port": 80, "weight": 100},
                        {"group": "", "kind": "Service", "name": CANARY, "port": 80, "weight": 0},
                    ],
                }
            ]
        },
    }


class FakeCustomObjects:
    """Applies JSON patches to one stored route; `answers` overrides the next answers."""

    def __init__(self) -> None:
        self.route = stored_route()
        self.answers: list[ApiException | dict[str, Any]] = []
        self.patches: list[list[dict[str, Any]]] = []
        self.reads = 0

    def get_namespaced_custom_object(self, *_: Any) -> dict[str, Any]:
        self.reads += 1
        return copy.deepcopy(self.route)

    def patch_namespaced_custom_object(self, *args: Any, **_: Any) -> dict[str, Any]:
        ops = args[5]
        self.patches.append(ops)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, ApiException):
                raise answer
            return answer
        self.route = jsonpatch.apply_patch(self.route, ops)
        return copy.deepcopy(self.route)


def router(fake: FakeCustomObjects) -> GatewayAPIRouter:
    r = GatewayAPIRouter(client.ApiClient(), None, "ml", "r", Backends(STABLE, CANARY))
    r.custom = fake  # type: ignore[assignment]
    return r


def refused(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="Unprocessable Entity")
    exc.body = json.dumps({"message": message})
    return exc


def test_a_mirror_is_written_once_and_then_nothing() -> None:
    fake = FakeCustomObjects()
    router(fake).apply(RouteState(0, mirror=100))
    router(fake).apply(RouteState(0, mirror=100))
    assert len(fake.patches) == 1
    assert fake.route["spec"]["rules"][0]["filters"][0]["type"] == "RequestMirror"


class MovedUnderUs(FakeCustomObjects):
    """Another writer (a successor leader) sets 50/50 between our read and our patch."""

    def patch_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if not self.patches:
            self.route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 50
            self.route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 50
        try:
            return super().patch_namespaced_custom_object(*args, **kwargs)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise refused(422, "the test operation failed") from exc


@pytest.mark.parametrize("status", [409, 422])
def test_a_route_that_moved_is_a_conflict_and_never_written_again(status: int) -> None:
    fake = MovedUnderUs()
    r = router(fake)
    r.check({"weights": "a canary"})  # reads the route: 100/0
    if status == 409:
        fake.answers = [refused(409, "the object has been modified")]
    with pytest.raises(RouteConflict):
        r.apply(RouteState(20))
    assert len(fake.patches) == 1, "a conflict is never answered by applying again"
    weights = [ref["weight"] for ref in fake.route["spec"]["rules"][0]["backendRefs"]]
    assert weights == [50, 50], "the other writer's weights stay"


def test_a_refusal_is_a_route_error_saying_what_and_why() -> None:
    fake = FakeCustomObjects()
    fake.answers = [refused(422, "rules: Too many: 17: must have at most 16")]
    with pytest.raises(RouteError) as error:
        router(fake).apply(RouteState(0, mirror=50))
    assert error.value.message == (
        "HTTPRoute ml/r: the API server refused canary weight 0%, 50% mirrored to it: "
        "rules: Too many: 17: must have at most 16"
    )


def test_a_write_that_did_not_stick_is_an_error() -> None:
    fake = FakeCustomObjects()
    fake.answers = [stored_route()]  # the server answered, but without our change
    with pytest.raises(RouteError, match="canary weight 20% did not stick"):
        router(fake).apply(RouteState(20))


def test_carries_says_whether_the_route_as_read_holds_a_state() -> None:
    fake = FakeCustomObjects()
    r = router(fake)
    assert r.carries(RouteState(0))
    assert not r.carries(RouteState(20))
    r.apply(RouteState(20))
    assert router(fake).carries(RouteState(20))


def weighted_rules(count: int) -> dict[str, Any]:
    route = stored_route()
    rule = route["spec"]["rules"][0]
    route["spec"]["rules"] = [
        {**copy.deepcopy(rule), "matches": [{"path": {"type": "PathPrefix", "value": f"/{i}"}}]}
        for i in range(count)
    ]
    return route


@pytest.mark.parametrize(("rules", "fits"), [(8, True), (9, False)])
def test_a_header_route_that_would_pass_the_rule_limit_is_refused_up_front(
    rules: int, fits: bool
) -> None:
    """A header route adds one rule per weighted rule; HTTPRoute holds 16 rules."""
    fake = FakeCustomObjects()
    fake.route = weighted_rules(rules)
    needed = {"weights": "a canary", "headerRoute": "step 3 (headerRoute)"}
    if fits:
        router(fake).check(needed)
        router(fake).check({"weights": "a canary"})
        return
    router(fake).check({"weights": "a canary"})  # weights alone need no rule
    with pytest.raises(RouteError) as error:
        router(fake).check(needed)
    assert error.value.reason == "InvalidSpec"
    assert error.value.message == (
        "step 3 (headerRoute) needs one more rule per weighted rule: HTTPRoute ml/r would "
        "have 18 rules, and Gateway API allows 16"
    )
    assert fake.patches == [], "nothing written"


def test_a_router_row_says_what_it_watches_and_where_the_spec_names_the_route() -> None:
    """Caches and wake-ups are generic: each row gives its route's kind and name."""
    http = RouteKind("gateway.networking.k8s.io", "v1", "httproutes")
    grpc = RouteKind("gateway.networking.k8s.io", "v1", "grpcroutes")
    assert {http, grpc} <= set(route_kinds())
    assert len(route_kinds()) == len(set(route_kinds())), "each kind watched once"
    assert route_of({"traffic": {"gatewayAPI": {"httpRoute": "chat"}}}) == (http, "chat")
    assert route_of({"traffic": {"gatewayAPI": {"grpcRoute": "triton"}}}) == (grpc, "triton")
    istio = RouteKind("networking.istio.io", "v1", "virtualservices")
    assert istio in route_kinds()
    assert route_of({"traffic": {"istio": {"virtualService": "m", "httpRoute": "a"}}}) == (
        istio,
        "m",
    )
    for hostile in (
        {},
        {"traffic": None},
        {"traffic": {"gatewayAPI": "x"}},
        {"traffic": {"gatewayAPI": {"httpRoute": 7}}},
        {"traffic": {"gatewayAPI": {"grpcRoute": ["x"]}}},
        {"traffic": {"istio": {}}},
    ):
        assert route_of(hostile) is None, hostile
