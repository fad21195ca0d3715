"""The Gateway API router's writes: verified on the API server's answer, a conflict read
again, and a refusal said in words (the API server stood in for by a fake)."""

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
from modelrollout.routing.router import RouteError

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
    r = GatewayAPIRouter(client.ApiClient(), None, "ml", "r", STABLE, CANARY)
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


def test_a_conflict_reads_the_route_again_and_writes_on_the_fresh_copy() -> None:
    fake = FakeCustomObjects()
    fake.answers = [refused(422, "the test operation failed")]
    router(fake).apply(RouteState(20))
    assert len(fake.patches) == 2
    assert fake.reads == 2  # check() is skipped here: one read per attempt
    assert fake.route["spec"]["rules"][0]["backendRefs"][1]["weight"] == 20


def test_a_refusal_is_a_route_error_saying_what_and_why() -> None:
    fake = FakeCustomObjects()
    fake.answers = [
        refused(422, "first"),
        refused(422, "rules: Too many: 17: must have at most 16"),
    ]
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
