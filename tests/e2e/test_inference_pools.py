"""Rollouts through InferencePools on the real control plane, with the upstream
InferencePool CRD (sigs.k8s.io/gateway-api-inference-extension, from its Go module).

The operator keeps a pool per side; the user's HTTPRoute names the pools as backendRefs
and only their weights (and our mirror and header rule, while a step holds them) are
ever written. After a promotion, a rollback and an abort, the route is exactly the
user's again; a route that does not name our pools, and a pool of our name that is not
ours, are InvalidSpec and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from modelrollout.api import inference_pool
from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import GW, Scenario, condition_true, every_route_feature

NAME = "llm"
POOLS = (inference_pool.GROUP, inference_pool.VERSION)
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
PICKERS = {"stable": {"name": "llm-stable-epp"}, "canary": {"name": "llm-canary-epp"}}
ROUTED = {
    "gatewayAPI": {
        "httpRoute": NAME,
        "inferencePool": {"targetPorts": [8000], "endpointPickers": PICKERS},
    }
}
STEPS = every_route_feature({"name": "X-Canary", "value": "true"})
HELD = [{"setWeight": 1}, {"pause": {}}]


def pool_ref(role: str, weight: int) -> dict[str, Any]:
    return {
        "group": inference_pool.GROUP,
        "kind": inference_pool.KIND,
        "name": f"{NAME}-{role}",
        "weight": weight,
    }


def pool_route() -> dict[str, Any]:
    """An LLM's route as a user writes it: two rules, only the first to our pools."""
    return {
        "apiVersion": f"{GW[0]}/{GW[1]}",
        "kind": "HTTPRoute",
        "metadata": {"name": NAME},
        "spec": {
            "parentRefs": [{"name": "inference-gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/v1/completions"}}],
                    "backendRefs": [pool_ref("stable", 100), pool_ref("canary", 0)],
                    "timeouts": {"request": "300s"},
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/health"}}],
                    "backendRefs": [{"name": "health", "port": 80}],
                },
            ],
        },
    }


def pools(s: Scenario) -> dict[str, dict[str, Any]]:
    found: Any = s.custom.list_namespaced_custom_object(*POOLS, s.namespace, inference_pool.PLURAL)
    return {item["metadata"]["name"]: item for item in found["items"]}


def selected_revision(s: Scenario, role: str) -> str:
    labels = pools(s)[f"{NAME}-{role}"]["spec"]["selector"]["matchLabels"]
    return str(labels["modelrollout.io/revision"])


@pytest.fixture
def s(make_scenario: Callable[..., Scenario], inference_pool_crds: list[str]) -> Scenario:
    assert "inferencepools.inference.networking.k8s.io" in inference_pool_crds
    scenario = make_scenario(NAME, route=False)
    scenario.traffic("1.0.0", GOOD)
    return scenario


def test_a_canary_through_pools_is_promoted_rolled_back_and_aborted(s: Scenario) -> None:
    users = s.create_route(pool_route())["spec"]
    s.create("1.0.0", traffic=ROUTED, strategy={"canary": {"steps": STEPS}})
    s.wait_healthy("1.0.0")
    v1 = s.get_revision()
    wait_until(lambda: len(pools(s)) == 2, timeout=30, what="a pool per side")
    for role in ("stable", "canary"):
        pool = pools(s)[f"{NAME}-{role}"]
        assert pool["spec"]["endpointPickerRef"]["name"] == PICKERS[role]["name"]
        assert pool["spec"]["targetPorts"] == [{"number": 8000}]
    assert selected_revision(s, "stable") == v1

    # Promoted: the mirror, the header route and the weights came and went; the stable
    # pool now selects the new revision's pods, which were not restarted.
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    v2 = s.wait_canary("2.0.0")
    wait_until(lambda: selected_revision(s, "canary") == v2, timeout=30, what="canary pool")
    seen = s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 50, "at 50%")
    assert seen["canary"]["revision"] == v2
    pods = s.pods(v2)
    s.wait_healthy("2.0.0")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert selected_revision(s, "stable") == v2
    assert s.pods(v2) == pods, "promotion restarted no pod"
    assert s.recorder is not None
    assert s.recorder.weights[:3] == [0, 1, 50], "weights follow the steps from 1%"
    assert s.recorder.weights[-1] == 0
    mirrors = [
        f["requestMirror"]["backendRef"]
        for rules in s.recorder.rules
        for f in rules[0].get("filters") or []
    ]
    assert {"group": "", "kind": "Service", "name": f"{NAME}-canary", "port": 80} in mirrors, (
        "the mirror went to the canary Service (at spec.service.port)"
    )
    header_refs = [rule["backendRefs"] for rules in s.recorder.rules for rule in rules[2:]]
    assert [{**pool_ref("canary", 1)}] in header_refs, "the header rule sent to the canary pool"

    # Rolled back: the judge's failure takes everything of ours off the route.
    s.traffic("3.0.0", BAD)
    s.set_version("3.0.0")
    v3 = s.wait_canary("3.0.0")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "rollback")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert selected_revision(s, "stable") == v2
    assert s.status()["abortedRevision"] == v3

    # Aborted by a person while it holds 1%.
    s.traffic("4.0.0", GOOD)
    s.patch({"spec": {"strategy": {"canary": {"steps": HELD}}}})
    s.set_version("4.0.0")
    s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 1, "held at 1%")
    s.wait_route_weight(1)
    s.request("abort")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "abort")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert selected_revision(s, "stable") == v2


def test_a_route_to_services_is_invalid_for_pools_and_changes_nothing(
    s: Scenario, api: client.ApiClient
) -> None:
    """A route that names our Services (not our pools) cannot carry a rollout through
    pools: InvalidSpec naming the pools, and no Deployment, Service or pool is made."""
    s.create_route()  # backendRefs to the Services llm-stable and llm-canary
    before = s.route_spec()
    s.create("1.0.0", traffic=ROUTED)
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert invalid["reason"] == "RouteInvalid"
    assert f"InferencePools {NAME}-stable and {NAME}-canary" in invalid["message"]
    assert s.route_spec() == before
    assert pools(s) == {}
    assert client.AppsV1Api(api).list_namespaced_deployment(s.namespace).items == []


def test_a_pool_of_our_name_that_is_not_ours_is_never_taken_over(
    s: Scenario, api: client.ApiClient
) -> None:
    """A pool a Helm chart made under the canary pool's name stays exactly as it was;
    the ModelDeployment is InvalidSpec saying whose it is, and deploys nothing."""
    s.create_route(pool_route())
    theirs = {
        "apiVersion": f"{inference_pool.GROUP}/{inference_pool.VERSION}",
        "kind": inference_pool.KIND,
        "metadata": {
            "name": f"{NAME}-canary",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "vllm"}},
            "targetPorts": [{"number": 8000}],
            "endpointPickerRef": {"name": "vllm-epp", "port": {"number": 9002}},
        },
    }
    made: Any = s.custom.create_namespaced_custom_object(
        *POOLS, s.namespace, inference_pool.PLURAL, theirs
    )
    s.create("1.0.0", traffic=ROUTED)
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert f"InferencePool {s.namespace}/{NAME}-canary already exists" in invalid["message"]
    assert "managed by Helm" in invalid["message"]
    after = pools(s)
    assert list(after) == [f"{NAME}-canary"]
    assert (
        after[f"{NAME}-canary"]["metadata"]["resourceVersion"]
        == (made["metadata"]["resourceVersion"])
    )
    assert client.AppsV1Api(api).list_namespaced_deployment(s.namespace).items == []


def test_a_blue_green_switch_through_pools(s: Scenario) -> None:
    """The preview judged on mirrored copies (to the canary Service), then all traffic
    switched at once between the pools, and the stable pool left on the new pods."""
    users = s.create_route(pool_route())["spec"]
    strategy = {
        "blueGreen": {
            "previewTraffic": {"mirror": {"percent": 100}},
            "autoPromotionAfter": "2s",
            "scaleDownDelay": "5s",
        }
    }
    s.create("1.0.0", traffic=ROUTED, strategy=strategy)
    s.wait_healthy("1.0.0")
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    preview = s.wait_canary("2.0.0")
    pods = s.wait_status(
        lambda st: (st.get("canary") or {}).get("readyReplicas") == 2, "the preview full size"
    )
    assert pods["canary"]["revision"] == preview
    wait_until(lambda: selected_revision(s, "canary") == preview, timeout=30, what="preview pool")
    before = s.pods(preview)
    s.wait_healthy("2.0.0")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's route again")
    assert selected_revision(s, "stable") == preview
    assert set(before) <= set(s.pods(preview)), "the switch restarted nothing"
    assert s.recorder is not None
    assert s.recorder.weights == [0, 100, 0], "all traffic switched at once, then back to stable"
