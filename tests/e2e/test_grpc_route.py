"""Rollouts through a Gateway API GRPCRoute on the real control plane, with Gateway API's
upstream CRDs (sigs.k8s.io/gateway-api, from its Go module).

A gRPC model server (Triton, KServe's v2 protocol) is routed by service and method. The
operator writes what it writes on an HTTPRoute: the weights of the backendRefs to our
Services, a RequestMirror filter, and a header rule repeating the weighted rule's
method matches. After a promotion, a rollback and an abort, the route is exactly the
user's again; a route that is missing or not wired to our Services is InvalidSpec and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from testenv.argocd_diff import ignored_expressions, normalized, predicted_live
from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import GW, Scenario, condition_true, every_route_feature

NAME = "triton"
PLURAL = "grpcroutes"
ROUTED = {"gatewayAPI": {"grpcRoute": NAME}}
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
INFERENCE = {"method": {"service": "inference.GRPCInferenceService"}}
TEAM_HEADER = {"type": "RequestHeaderModifier", "requestHeaderModifier": {
    "set": [{"name": "x-team", "value": "vision"}]}}  # fmt: skip
CANARY_HEADER = {"name": "x-canary", "value": "true"}
STEPS = every_route_feature(CANARY_HEADER)
HELD = [{"setWeight": 1}, {"pause": {}}]


def service_ref(role: str, weight: int) -> dict[str, Any]:
    return {"name": f"{NAME}-{role}", "port": 80, "weight": weight}


def grpc_route(backends: list[dict[str, Any]]) -> dict[str, Any]:
    """A gRPC model server's route as a user writes it: inference calls to `backends`
    (with a filter of the user's), health checks elsewhere."""
    return {
        "apiVersion": f"{GW[0]}/{GW[1]}",
        "kind": "GRPCRoute",
        "metadata": {"name": NAME},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "hostnames": ["triton.example"],
            "rules": [
                {"matches": [INFERENCE], "filters": [TEAM_HEADER], "backendRefs": backends},
                {
                    "matches": [{"method": {"service": "grpc.health.v1.Health"}}],
                    "backendRefs": [{"name": "health", "port": 80}],
                },
            ],
        },
    }


@pytest.fixture
def s(make_scenario: Callable[..., Scenario], gateway_api_crds: list[str]) -> Scenario:
    assert f"{PLURAL}.gateway.networking.k8s.io" in gateway_api_crds
    scenario = make_scenario(NAME, route=False)
    scenario.route_plural = PLURAL
    scenario.traffic("1.0.0", GOOD)
    return scenario


def test_a_canary_through_a_grpc_route_is_promoted_rolled_back_and_aborted(
    s: Scenario,
) -> None:
    manifest = grpc_route([service_ref("stable", 100), service_ref("canary", 0)])
    users = s.create_route(manifest)["spec"]
    s.create("1.0.0", traffic=ROUTED, strategy={"canary": {"steps": STEPS}})
    s.wait_healthy("1.0.0")

    # Promoted: the mirror, the header rule and the weights came and went.
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    v2 = s.wait_canary("2.0.0")
    seen = s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 50, "at 50%")
    assert seen["canary"]["revision"] == v2
    s.wait_healthy("2.0.0")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert s.recorder is not None
    assert s.recorder.weights[:3] == [0, 1, 50], "weights follow the steps from 1%"
    assert s.recorder.weights[-1] == 0
    first_rule_filters = [f for rules in s.recorder.rules for f in rules[0].get("filters") or []]
    mirror = {"group": "", "kind": "Service", "name": f"{NAME}-canary", "port": 80}
    assert {"type": "RequestMirror", "requestMirror": {"backendRef": mirror, "percent": 100}} in (
        first_rule_filters
    ), "the mirror is a RequestMirror filter to the canary Service"
    header_rules = [rule for rules in s.recorder.rules for rule in rules[2:]]
    assert header_rules, "a header rule was added"
    weighted = users["rules"][0]  # as the API server stored it, with its defaults
    assert header_rules[0] == {
        "name": f"modelrollout-{NAME}-canary-0",
        "matches": [{**weighted["matches"][0], "headers": [{**CANARY_HEADER, "type": "Exact"}]}],
        "filters": weighted["filters"],
        "backendRefs": [{**weighted["backendRefs"][1], "weight": 1}],
    }, "the header rule repeats the method match and the user's filter, to the canary"

    # Rolled back: the judge's failure takes everything of ours off the route.
    s.traffic("3.0.0", BAD)
    s.set_version("3.0.0")
    v3 = s.wait_canary("3.0.0")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "rollback")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert s.status()["abortedRevision"] == v3

    # Aborted by a person while it holds 1% and a header route; meanwhile Argo CD, with
    # the example Application's ignoreDifferences, sees no drift from Git's route.
    s.traffic("4.0.0", GOOD)
    held = [{"setWeight": 1}, {"headerRoute": {"match": [{"header": CANARY_HEADER}]}}]
    s.patch({"spec": {"strategy": {"canary": {"steps": [*held, *HELD[1:]]}}}})
    s.set_version("4.0.0")
    s.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at 1%")
    s.wait_route_weight(1)
    wait_until(lambda: len(s.route_spec()["rules"]) == 3, timeout=30, what="the header rule")
    expressions = ignored_expressions(GW[0], "GRPCRoute")
    where = {"name": NAME, "namespace": s.namespace}
    git = predicted_live(s.api, {**manifest, "metadata": where}, *GW, PLURAL)
    live = {"spec": s.route_spec()}
    assert {"spec": git["spec"]} != live
    assert normalized({"spec": git["spec"]}, expressions) == normalized(live, expressions)
    s.request("abort")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "abort")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert s.status()["stable"]["revision"] == v2


@pytest.mark.parametrize("wired", [False, None], ids=["not wired to our Services", "missing"])
def test_a_grpc_route_missing_or_not_ours_is_invalid_and_changes_nothing(
    s: Scenario, api: client.ApiClient, wired: bool | None
) -> None:
    before = None
    if wired is False:  # to a Service of the user's, not to both of ours
        theirs = [service_ref("stable", 100), {"name": "other", "port": 80, "weight": 0}]
        before = s.create_route(grpc_route(theirs))["spec"]
    s.create("1.0.0", traffic=ROUTED)
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    if before is None:
        assert invalid["reason"] == "RouteNotFound"
        assert f"GRPCRoute {s.namespace}/{NAME} not found" in invalid["message"]
    else:
        assert invalid["reason"] == "RouteInvalid"
        assert f"Services {NAME}-stable and {NAME}-canary" in invalid["message"]
        assert s.route_spec() == before
    assert client.AppsV1Api(api).list_namespaced_deployment(s.namespace).items == []
