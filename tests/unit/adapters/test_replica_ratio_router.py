"""Replica ratio: the operator's Service of every pod, and a user's Service checked
(read, never written) for selecting the pods of every revision."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.engine.model import RouteState
from modelrollout.routing.registry import Route, router_for
from modelrollout.routing.replica_ratio import ReplicaRatioRouter, selector_problem
from modelrollout.routing.router import RouteError, require_features
from modelrollout.workloads.render import (
    pod_labels,
    render_deployment,
    render_service,
    render_traffic_service,
)


def spec(ratio: dict[str, Any], steps: list[dict[str, Any]] | None = None) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {
            "replicas": 4,
            "model": {"version": "2"},
            "template": {"metadata": {"labels": {"app": "fraud", "tier": "ml"}}, "spec": {}},
            "strategy": {"canary": {"steps": steps or [{"setWeight": 25}]}},
            "traffic": {"replicaRatio": ratio},
        }
    )


def test_the_operators_service_selects_every_revisions_pods() -> None:
    ours = spec({})
    body = render_traffic_service("fraud", "ml", "uid-1", ours)
    assert body is not None
    assert body["metadata"]["name"] == "fraud"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    selector = body["spec"]["selector"]
    assert selector == {"modelrollout.io/name": "fraud"}
    pods = render_deployment("fraud", "ml", "uid-1", ours, 1)["spec"]["template"]["metadata"]
    assert selector.items() <= pods["labels"].items()
    assert (
        body["spec"]["ports"]
        == render_service("fraud", "ml", "u", ours, "stable", "r")["spec"]["ports"]
    )
    assert render_traffic_service("fraud", "ml", "uid-1", spec({"service": "theirs"})) is None


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ({"app": "fraud"}, None),
        ({"app": "fraud", "modelrollout.io/name": "fraud"}, None),
        ({"app": "fraud", "version": "v2"}, "selects version=v2"),
        ({"modelrollout.io/revision": "abc"}, "selects modelrollout.io/revision=abc"),
        ({"app": "other"}, "selects app=other"),
        ({}, "has no selector"),
        (None, "has no selector"),
    ],
)
def test_a_users_service_must_select_labels_every_pod_carries(
    selector: dict[str, str] | None, problem: str | None
) -> None:
    found = selector_problem(selector, pod_labels("fraud", spec({})))
    assert found == problem if problem is None else (found is not None and problem in found)


class FakeCore:
    def __init__(self, service: Any) -> None:
        self.service = service

    def read_namespaced_service(self, name: str, namespace: str) -> Any:
        if self.service is None:
            raise ApiException(status=404, reason="Not Found")
        return self.service


def ratio_router(given: dict[str, Any], service: Any = None) -> ReplicaRatioRouter:
    s = spec(given)
    route = Route(client.ApiClient(), None, "ml", "fraud", "fraud-stable", "fraud-canary",
                  pod_labels("fraud", s))  # fmt: skip
    router = router_for(s, route)
    assert isinstance(router, ReplicaRatioRouter)
    router.core = FakeCore(service)  # type: ignore[assignment]
    return router


def test_the_router_checks_a_users_service_and_writes_nothing() -> None:
    svc = client.V1Service(spec=client.V1ServiceSpec(selector={"app": "fraud"}))
    router = ratio_router({"service": "fraud-web"}, svc)
    assert router.name == "replica ratio on Service ml/fraud-web"
    router.check({"weights": "a canary"})
    assert router.carries(RouteState(25))
    router.apply(RouteState(25))  # nothing to write: the pods are the split
    with pytest.raises(RouteError) as missing:
        ratio_router({"service": "fraud-web"}).check({})
    assert (missing.value.reason, missing.value.message) == (
        "RouteNotFound",
        "Service ml/fraud-web not found",
    )
    wrong = client.V1Service(spec=client.V1ServiceSpec(selector={"app": "fraud", "v": "2"}))
    with pytest.raises(RouteError) as invalid:
        ratio_router({"service": "fraud-web"}, wrong).check({})
    assert invalid.value.reason == "RouteInvalid"
    assert invalid.value.message.startswith("Service ml/fraud-web selects v=2")
    ratio_router({}).check({})  # the operator's own Service: nothing to read


def test_a_mirror_or_header_route_is_refused_naming_the_step_and_the_router() -> None:
    router = ratio_router({})
    with pytest.raises(RouteError) as refused:
        require_features(router, {"weights": "a canary", "mirror": "step 1 (mirror)"})
    assert refused.value.message == (
        "step 1 (mirror) needs mirror from its router, which replica ratio on Service "
        "ml/fraud does not support"
    )
