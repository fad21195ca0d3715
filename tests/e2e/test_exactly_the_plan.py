"""Traffic moves forward only on fresh evidence and only as far as the plan says, the
route carries what the status says, and the owner's route is left exactly as it was."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import requests
from kubernetes import client

from testenv.exporter import Traffic
from testenv.fake_prometheus import Answer, FakePrometheus
from testenv.procs import wait_until
from testenv.rollouts import (
    GROUP,
    GW,
    PLURAL,
    VERSION,
    Scenario,
    condition_true,
    http_route,
    model_deployment,
)

GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)


def relay(real: str, down: threading.Event) -> FakePrometheus:
    """A Prometheus that answers as the real one does, or not at all while `down`."""

    def answer(query: str) -> Answer:
        if down.is_set():
            return Answer(503, "Service Unavailable")
        reply = requests.get(f"{real}/api/v1/query", params={"query": query}, timeout=5)
        return Answer(reply.status_code, reply.text)

    return FakePrometheus(answer)


def analysis_at(url: str, **changes: Any) -> dict[str, Any]:
    analysis: dict[str, Any] = copy.deepcopy(
        model_deployment("x", "1.0.0", url)["spec"]["analysis"]
    )
    analysis.update(changes)
    return analysis


def canary(*steps: Any) -> dict[str, Any]:
    return {
        "canary": {
            "steps": [{"setWeight": s} if isinstance(s, int) else s for s in steps],
            "scaleDownDelay": "2s",
            "abortScaleDownDelay": "2s",
        }
    }


def test_no_step_forward_while_prometheus_is_down_at_the_end_of_a_pause(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("outage")
    s.traffic("1.0.0", GOOD)
    s.traffic("2.0.0", GOOD)
    down = threading.Event()
    with relay(s.prometheus.url, down).running() as prometheus:
        # Errors never pause it here: what holds the step is the evidence's freshness.
        analysis = analysis_at(prometheus.url, consecutiveErrorLimit=50)
        s.create("1.0.0", analysis=analysis, strategy=canary(20, {"pause": {"duration": "8s"}}, 50))
        s.wait_healthy("1.0.0")
        s.set_version("2.0.0")
        s.wait_status(
            lambda st: st.get("currentStep") == 1 and (st.get("analysis") or {}).get("successful"),
            "the pause at 20% with a passing measurement",
        )
        down.set()
        held = s.wait_status(
            lambda st: "the latest did not succeed" in st.get("message", ""),
            "the pause over, held for want of a fresh measurement",
            timeout=60,
        )
        assert held["currentStep"] == 1
        assert held["canary"]["weight"] == 20
        assert s.route_canary_weight() == 20
        errors = held["analysis"]["errors"]
        s.wait_status(
            lambda st: st["analysis"]["errors"] >= errors + 2, "two more failed measurements"
        )
        assert s.status()["currentStep"] == 1, "still held"
        assert s.route_canary_weight() == 20
        down.clear()
        s.wait_healthy("2.0.0", timeout=90)
    assert s.recorder is not None
    assert s.recorder.weights == [0, 20, 50, 100, 0]
    advanced = [m for _, r, m in s.events() if r == "StepAdvanced" and "pause" in m]
    assert len(advanced) == 1, advanced


def test_edited_steps_are_followed_and_never_promote_by_themselves(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("replanned")
    s.traffic("1.0.0", GOOD)
    s.traffic("2.0.0", GOOD)
    hour = {"pause": {"duration": "1h"}}
    s.create("1.0.0", strategy=canary(20, {"pause": {"duration": "2s"}}, 50, hour))
    s.wait_healthy("1.0.0")
    s.set_version("2.0.0")
    s.wait_status(lambda st: st.get("currentStep") == 3, "the hour's pause at 50%")

    def replan(*steps: Any) -> None:
        patch = {"spec": {"strategy": canary(*steps)}}
        s.custom.patch_namespaced_custom_object(GROUP, VERSION, s.namespace, PLURAL, s.name, patch)

    # Shorter, and below the canary's weight: from the start, not promoted.
    replan(10, hour)
    s.wait_route_weight(10)
    status = s.wait_status(lambda st: st.get("currentStep") == 1, "step 2 of the new plan")
    assert status["canary"]["weight"] == 10
    assert status["phase"] == "Progressing"
    # Longer: resumes at the canary's weight and goes on to the new steps.
    replan(10, {"pause": {"duration": "2s"}}, 30, {"pause": {"duration": "2s"}}, 60, hour)
    s.wait_route_weight(60, timeout=60)
    assert s.status()["currentStep"] == 5
    # Reordered, the hour first: resumes at 60%, then promotes once its steps are done.
    replan(hour, 60, {"pause": {"duration": "2s"}})
    status = s.wait_healthy("2.0.0", timeout=90)
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert s.recorder is not None
    assert s.recorder.weights == [0, 20, 50, 10, 30, 60, 100, 0]
    said = [m for _, r, m in s.events() if r == "PlanChanged"]
    assert len(said) == 3, said
    assert "restarting from step 1" in " ".join(said)


def weighted_route(name: str, rules: int) -> dict[str, Any]:
    route = http_route(name, f"{name}-stable", f"{name}-canary")
    rule = route["spec"]["rules"][0]
    route["spec"]["rules"] = [
        {**copy.deepcopy(rule), "matches": [{"path": {"type": "PathPrefix", "value": f"/{i}"}}]}
        for i in range(rules)
    ]
    return route


def test_a_header_route_that_the_route_cannot_hold_is_refused_before_the_step(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("nine-rules", route=False)
    s.custom.create_namespaced_custom_object(
        *GW, s.namespace, "httproutes", weighted_route(s.name, 9)
    )
    s.traffic("1.0.0", GOOD)
    s.create("1.0.0")
    s.wait_healthy("1.0.0")
    before = s.custom.get_namespaced_custom_object(*GW, s.namespace, "httproutes", s.name)
    header = {"headerRoute": {"match": [{"header": {"name": "x-canary", "value": "1"}}]}}
    patch = {"spec": {"strategy": canary(header, 20), "model": {"version": "2.0.0"}}}
    s.custom.patch_namespaced_custom_object(GROUP, VERSION, s.namespace, PLURAL, s.name, patch)
    status = s.wait_status(condition_true("InvalidSpec"), "InvalidSpec")
    invalid = s.condition("InvalidSpec")
    assert invalid is not None
    assert "would have 18 rules, and Gateway API allows 16" in invalid["message"]
    assert status["stable"]["version"] == "1.0.0"
    assert status.get("canary") is None, "no rollout began"
    after = s.custom.get_namespaced_custom_object(*GW, s.namespace, "httproutes", s.name)
    assert after["spec"] == before["spec"], "the route is untouched"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_a_model_deployment_deleted_mid_rollout_leaves_the_owners_route_as_it_was(
    api: client.ApiClient, make_scenario: Callable[..., Scenario]
) -> None:
    s = make_scenario("deleted")
    s.traffic("1.0.0", GOOD)
    s.traffic("2.0.0", GOOD)
    # An owner who wrote an empty filters list (Git has it): it stays, and stays empty.
    empty = [{"op": "add", "path": "/spec/rules/0/filters", "value": []}]
    s.custom.patch_namespaced_custom_object(
        *GW, s.namespace, "httproutes", s.name, empty, _content_type="application/json-patch+json"
    )
    owners = s.custom.get_namespaced_custom_object(*GW, s.namespace, "httproutes", s.name)
    assert owners["spec"]["rules"][0]["filters"] == []
    mirror = {"mirror": {"percent": 50}}
    header = {"headerRoute": {"match": [{"header": {"name": "x-canary", "value": "1"}}]}}
    s.create("1.0.0", strategy=canary(mirror, header, {"pause": {}}))
    s.wait_healthy("1.0.0")
    s.set_version("2.0.0")
    s.wait_status(lambda st: st.get("currentStep") == 2, "the mirror and the header route on")

    def carries_ours() -> bool:
        route = s.custom.get_namespaced_custom_object(*GW, s.namespace, "httproutes", s.name)
        rules = route["spec"]["rules"]
        return len(rules) == 2 and bool(rules[0].get("filters"))

    wait_until(carries_ours, timeout=30, what="the route to carry the mirror and header rule")
    s.custom.delete_namespaced_custom_object(GROUP, VERSION, s.namespace, PLURAL, s.name)

    def gone() -> bool:
        try:
            s.get()
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, timeout=60, what="the ModelDeployment to be deleted")
    route = s.custom.get_namespaced_custom_object(*GW, s.namespace, "httproutes", s.name)
    assert route["spec"] == owners["spec"], "exactly the owner's route"
