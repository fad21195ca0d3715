"""The judge by what a model predicts, in the traffic lab (real Envoy, model servers and
Prometheus), every version judged on mirrored copies before any user gets its answers:

- a retrained model whose predictions differ a little (2% moved) is promoted;
- a model fast and healthy but wrong (30% of its answers one class, whatever the input)
  is rolled back by the predictions check, no user answered by it;
- a model 30 ms slower is rolled back by the latency check, with no threshold set.

The load sends the model's own data set with 2% malformed rows, which every version
refuses with 400 (counted by the rejected-inputs ratio, the same on both sides)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lab.lab import Lab, lab_model_deployment
from lab.record import mirror_gone, play
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus

NAME = "iris"
RPS = 40
STEPS = [
    {"mirror": {"percent": 100}},
    {"pause": {"duration": "40s"}},
    {"setWeight": 50},
    {"pause": {"duration": "4s"}},
]
CHECKS = [
    {"kind": "errors"},
    # The lab's processes share two busy cores: a fresh one answers its first requests
    # a little slower than one that has run for minutes, whatever its model. 20 points
    # at any boundary is far beyond that, and far below what 30 ms does.
    {"kind": "latency", "tolerance": 0.2},
    {"kind": "predictions"},
    {"kind": "ratio"},
    {"kind": "ratio", "name": "rejected-inputs", "series": "model_input_invalid_total"},
]
RETRAINED = {"MODEL_FAULT_DRIFT_SHARE": "0.02"}
DRIFTED = {"MODEL_FAULT_DRIFT_SHARE": "0.3"}
SLOWER = {"MODEL_FAULT_LATENCY_SECONDS": "0.03"}


def judged(prometheus: LocalPrometheus) -> dict[str, Any]:
    strategy = {"canary": {"steps": STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}}
    body = lab_model_deployment(NAME, "1.0.0", prometheus.url, strategy=strategy)
    analysis = body["spec"]["analysis"]
    analysis.update(minSampleSize=20, metrics=[], judge={"checks": CHECKS})
    analysis.pop("window", None)
    return body


@pytest.mark.timeout(600)
def test_a_model_is_judged_by_what_it_predicts_on_mirrored_traffic(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        lab.deploy(judged(prometheus))
        load = lab.load(RPS, malformed=0.02)

        retrained = play(lab, NAME, "2.0.0", load, RETRAINED, settle=mirror_gone(lab, "2.0.0"))
        assert retrained.outcome == "Promoted", retrained.reason
        judge = lab.status(NAME)["analysis"]["judge"]
        checks = {c["name"]: c for c in judge["checks"]}
        assert set(checks) == {"errors", "latency", "predictions", "ratio", "rejected-inputs"}
        # Read from the real exporters: the classes, zero-initialised, and the buckets.
        assert checks["predictions"]["buckets"] == ["setosa", "versicolor", "virginica"]
        assert len(checks["latency"]["buckets"]) >= 5, checks["latency"]
        assert checks["rejected-inputs"]["canaryBad"] > 0, "malformed rows were refused"

        drifted = play(lab, NAME, "3.0.0", load, DRIFTED, settle=mirror_gone(lab, "2.0.0"))
        slower = play(lab, NAME, "4.0.0", load, SLOWER, settle=mirror_gone(lab, "2.0.0"))
        load.stop()

    for record, check in ((drifted, "predictions (shares of outputs)"), (slower, "latency")):
        assert record.outcome == "RolledBack", record.reason
        assert check in record.reason
        assert all(weight == 0 for _, _, weight in record.steps), "never any user weight"
        print(f"{record.version}: rolled back {record.seconds_to_decision:.1f}s after the change")
    # No user was answered by a version rolled back, none got a failed or wrong answer
    # from one, and every malformed row was refused.
    outcomes = load.outcomes
    assert not [o for o in outcomes if o.version in ("3.0.0", "4.0.0")]
    assert [o for o in outcomes if not o.ok] == []
    assert sum(o.malformed for o in outcomes) >= 0.01 * len(outcomes)
