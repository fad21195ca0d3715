"""Argo CD's view of live ModelDeployments: our health script and actions, run in Lua 5.1 the
way Argo CD runs them, on objects read straight from the API server during real rollouts.

The actions are applied as Argo CD applies them: the patch between the live object and the
script's output. `MODELROLLOUT_RECORD=1` writes the objects to the scripts' testdata, which
the unit tests (tests/unit/test_argocd.py) then read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml
from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.engine.request_token import mint
from testenv.argocd import SCRIPTS, ArgoLua, merge_patch
from testenv.argocd_diff import ignored_expressions, normalized, predicted_live
from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import GW, HELD_CANARY, Scenario, condition_true, http_route

# HELD_CANARY after a timed pause, so the rollout stays "Progressing at a step" long
# enough to be read (a setWeight step passes as soon as the canary's pods are ready).
STEPPING_THEN_HELD = {
    "canary": {"steps": [{"pause": {"duration": "5s"}}, *HELD_CANARY["canary"]["steps"]]}
}

RECORD = os.environ.get("MODELROLLOUT_RECORD") == "1"


def seen(obj: dict[str, Any], name: str, health: str) -> dict[str, Any]:
    """Argo CD's health of a live object must be `health`; record it when asked."""
    found = ArgoLua().health(obj)
    assert found["status"] == health, (name, found, obj.get("status"))
    if RECORD:
        kept = dict(
            obj, metadata={k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        )
        (SCRIPTS / "testdata" / f"{name}.yaml").write_text(yaml.safe_dump(kept, sort_keys=False))
    return obj


def enabled(obj: dict[str, Any]) -> set[str]:
    return {name for name, disabled in ArgoLua().discover(obj).items() if not disabled}


def act(s: Scenario, obj: dict[str, Any], action: str) -> None:
    """Run an action as Argo CD does: a merge patch from the live object to the script's."""
    assert action in enabled(obj), (action, enabled(obj))
    patch = merge_patch(obj, ArgoLua().act(action, obj))
    request = patch["metadata"]["annotations"]["modelrollout.io/request"]
    assert request.startswith(f"{action}:")
    assert patch == {"metadata": {"annotations": {"modelrollout.io/request": request}}}
    s.custom.patch_namespaced_custom_object(GROUP, VERSION, s.namespace, PLURAL, s.name, patch)


def paused_at(step: int) -> Callable[[dict[str, Any]], bool]:
    return lambda st: st.get("pauseReason") == "PauseStep" and st.get("currentStep") == step


def test_health_follows_a_canary_and_the_actions_drive_it(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("fraud")
    s.traffic("1.0.0", Traffic())
    s.traffic("2.0.0", Traffic())
    seen(s.create("1.0.0", strategy=STEPPING_THEN_HELD), "progressing_noStatus", "Progressing")
    s.wait_healthy("1.0.0")
    healthy = seen(s.get(), "healthy", "Healthy")
    assert enabled(healthy) == set()
    seen(s.set_version("2.0.0"), "progressing_newGeneration", "Progressing")
    stepping = s.wait_object(
        lambda st: st.get("phase") == "Progressing" and st.get("currentStep") == 0,
        "the first canary step",
    )
    seen(stepping, "progressing_canaryStep", "Progressing")
    assert enabled(stepping) == {"promote", "promote-full", "abort", "pause"}

    held = seen(s.wait_object(paused_at(2), "held at 20%"), "suspended_pauseStep", "Suspended")
    assert enabled(held) == {"promote", "promote-full", "abort", "resume"}
    act(s, held, "promote")
    held = s.wait_object(paused_at(4), "promoted past the first pause, held at 40%")

    act(s, held, "abort")
    rolled_back = s.wait_object(lambda st: st.get("phase") == "RolledBack", "rolled back")
    seen(rolled_back, "degraded_rolledBack", "Degraded")
    assert enabled(rolled_back) == {"retry"}
    s.wait_route_weight(0)

    act(s, rolled_back, "retry")
    held = s.wait_object(paused_at(2), "the retried canary held at 20%")
    act(s, held, "promote-full")
    s.wait_healthy("2.0.0")
    seen(s.get(), "healthy_promoted", "Healthy")


def test_an_invalid_spec_is_degraded_with_its_reason(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("lost", route=False)
    s.create("1.0.0")
    invalid = s.wait_object(condition_true("InvalidSpec"), "an InvalidSpec condition")
    seen(invalid, "degraded_invalidSpec", "Degraded")
    assert "not found" in ArgoLua().health(invalid)["message"]


ROUTE_STEPS = {
    "canary": {
        "steps": [
            {"mirror": {"percent": 50}},
            {"headerRoute": {"match": [{"cookie": {"name": "arm", "value": "b"}}]}},
            {"setWeight": 20},
            {"pause": {}},
        ]
    }
}


def test_argo_cd_sees_no_drift_from_what_the_operator_writes_on_the_route(
    api: client.ApiClient, make_scenario: Callable[..., Scenario]
) -> None:
    """Git's route against the live one mid-rollout (weights, a mirror, a header rule),
    diffed as Argo CD's server-side diff does with the example Application's
    ignoreDifferences: nothing else differs; once the rollout ends, nothing at all."""
    s = make_scenario("fraud")
    s.traffic("1.0.0", Traffic())
    s.traffic("2.0.0", Traffic())
    s.create("1.0.0", strategy=ROUTE_STEPS)
    s.wait_healthy("1.0.0")
    manifest = {**http_route(s.name, f"{s.name}-stable", f"{s.name}-canary")}
    manifest["metadata"] = {"name": s.name, "namespace": s.namespace}
    expressions = ignored_expressions(*GW[:1], "HTTPRoute")
    assert len(expressions) == 4

    def diff() -> tuple[dict[str, Any], dict[str, Any]]:
        """(Git's route as it would apply, the live route): their specs, which is all
        the operator writes to."""
        live: Any = s.custom.get_namespaced_custom_object(*GW, s.namespace, "httproutes", s.name)
        git = predicted_live(api, manifest, *GW, "httproutes")
        return {"spec": git["spec"]}, {"spec": live["spec"]}

    s.set_version("2.0.0")
    s.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at 20% with its routes")
    s.wait_route_weight(20)
    git, live = diff()
    assert git != live, "the operator's writes are on the live route"
    rules = live["spec"]["rules"]
    assert [r.get("name") for r in rules] == [None, "modelrollout-fraud-canary-0"]
    assert "filters" not in rules[0], "setWeight 20 ended the mirror"
    assert normalized(git, expressions) == normalized(live, expressions)
    weights_only = expressions[:1]
    assert normalized(git, weights_only) != normalized(live, weights_only), "the rule counts"

    # A mirror alone (the list Argo CD would otherwise see as an empty one).
    s.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        s.namespace,
        PLURAL,
        s.name,
        {"spec": {"strategy": {"canary": {"steps": [{"mirror": {"percent": 50}}, {"pause": {}}]}}}},
    )
    s.set_version("3.0.0")
    s.wait_status(
        lambda st: (st.get("canary") or {}).get("mirror") == 50 and st.get("pauseReason"),
        "3.0.0 held with a mirror",
    )
    wait_until(
        lambda: "filters" in diff()[1]["spec"]["rules"][0], timeout=30, what="the mirror filter"
    )
    git, live = diff()
    assert live["spec"]["rules"][0]["filters"][0]["type"] == "RequestMirror"
    assert normalized(git, expressions) == normalized(live, expressions)
    # Without the third expression Argo CD would see an empty filters list as drift.
    without = [e for i, e in enumerate(expressions) if i != 2]
    assert normalized(git, without) != normalized(live, without)

    s.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        s.namespace,
        PLURAL,
        s.name,
        {
            "metadata": {
                "annotations": {"modelrollout.io/request": mint("promote-full", datetime.now(UTC))}
            }
        },
    )
    s.wait_healthy("3.0.0")
    wait_until(lambda: diff()[0] == diff()[1], timeout=30, what="the route exactly as in Git")
