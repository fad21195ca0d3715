"""A rollout within a budget of pods on real traffic: real Envoy, real model-server
processes. With `maxSurge: 0` stable gives its pods to the canary one at a time while
it still serves; no request may fail on the way, and a bad version is rolled back with
traffic handed back as stable's pods return."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client

from lab.lab import Lab, lab_model_deployment
from lab.record import RolloutRecord, old_pods_gone, play
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import steps_to_full

NAME = "budget"
RPS = 40
REPLICAS = 4
BAD = {"MODEL_FAULT_ERROR_RATE": "0.5"}
STEPS = steps_to_full("3s")


def handed_back(lab: Lab, keep: str) -> Callable[[RolloutRecord], bool]:
    """Settled once no revision hands traffic back and only `keep`'s pods serve."""
    pods_gone = old_pods_gone(lab, keep)

    def settled(record: RolloutRecord) -> bool:
        return not lab.status(NAME).get("returning") and pods_gone(record)

    return settled


@pytest.mark.timeout(400)
def test_a_rollout_with_no_surge_fails_no_request(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        canary = {
            "steps": STEPS,
            "capacity": {"maxSurge": 0},
            "scaleDownDelay": "2s",
            "abortScaleDownDelay": "2s",
        }
        body = lab_model_deployment(
            NAME, "1.0.0", prometheus.url, replicas=REPLICAS, strategy={"canary": canary}
        )
        body["spec"]["analysis"].update(
            minSampleSize=10, metrics=[{"name": "error-rate", "template": "errorRate", "max": 0.05}]
        )
        lab.deploy(body)
        load = lab.load(RPS)

        good = play(lab, NAME, "2.0.0", load, settle=old_pods_gone(lab, "2.0.0"))
        assert good.outcome == "Promoted"
        weights = [w for _, w in good.weight_changes()]
        assert {10, 50, 100} <= set(weights), weights
        assert len(weights) > 4, f"some weight moved pod by pod: {weights}"

        bad = play(lab, NAME, "3.0.0", load, BAD, settle=handed_back(lab, "2.0.0"))
        assert bad.outcome == "RolledBack"
        load.stop()

    outcomes = load.outcomes
    assert [o for o in outcomes if o.status == 0 or not o.version] == [], "unanswered"
    assert good.failed == 0, "a request failed while stable gave its pods away"
    assert [o for o in outcomes if not o.ok and o.version != "3.0.0"] == []
