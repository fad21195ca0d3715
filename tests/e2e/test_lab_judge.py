"""The comparative judge in the traffic lab (real Envoy, model servers and Prometheus):
with the analysis interval at 60 s, a version failing half its requests at a 5% step
is rolled back within seconds of its first answer, a slow one too, and a good one is
promoted, with the judge's counts read from the real exporters (errors and the 0.5 s
latency bucket)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lab.lab import Lab, lab_model_deployment
from lab.record import RolloutRecord, old_pods_gone, play
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus

NAME = "iris"
RPS = 60  # the canary gets 3 req/s at 5%
INTERVAL = 60.0
STEPS = [
    {"setWeight": 5},
    {"pause": {"duration": "8s"}},
    {"setWeight": 50},
    {"pause": {"duration": "4s"}},
]
FAILING = {"MODEL_FAULT_ERROR_RATE": "0.5"}
SLOW = {"MODEL_FAULT_LATENCY_SECONDS": "0.7"}


def judged(prometheus: LocalPrometheus) -> dict[str, Any]:
    body = lab_model_deployment(
        NAME,
        "1.0.0",
        prometheus.url,
        strategy={"canary": {"steps": STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}},
    )
    body["spec"]["analysis"].update(
        interval=f"{INTERVAL:.0f}s",
        window=None,
        minSampleSize=15,
        metrics=[],
        judge={
            "falseRollbackRate": 0.01,
            "checks": [{"kind": "errors"}, {"kind": "latency", "threshold": "500ms"}],
        },
    )
    body["spec"]["analysis"] = {k: v for k, v in body["spec"]["analysis"].items() if v is not None}
    return body


def first_answer(record: RolloutRecord) -> float:
    answered = [o.sent for o in record.outcomes if o.version == record.version]
    assert answered, f"{record.version} never answered a request"
    return min(answered)


@pytest.mark.timeout(500)
def test_the_judge_rolls_back_a_bad_version_within_seconds_and_promotes_a_good_one(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        lab.deploy(judged(prometheus))
        load = lab.load(RPS)

        good = play(lab, NAME, "2.0.0", load, settle=old_pods_gone(lab, "2.0.0"))
        assert good.outcome == "Promoted", good.reason
        judge = lab.status(NAME)["analysis"]["judge"]
        checks = {c["name"]: c for c in judge["checks"]}
        assert set(checks) == {"errors", "latency"}, judge["message"]
        # Both read from the real exporters: the 0.5 s bucket was found.
        assert checks["latency"]["canaryRequests"] > 0
        assert checks["latency"]["stableRequests"] > 0
        assert all(c["evidence"] < 200 for c in checks.values()), judge["message"]

        bad = play(lab, NAME, "3.0.0", load, FAILING, settle=old_pods_gone(lab, "2.0.0"))
        slow = play(lab, NAME, "4.0.0", load, SLOW, settle=old_pods_gone(lab, "2.0.0"))
        load.stop()

    for record, what in (
        (bad, "errors (5xx answers): canary"),
        (slow, "latency (slower than the threshold): canary"),
    ):
        assert record.outcome == "RolledBack", record.reason
        assert what in record.reason
        assert "(rollback at 200x)" in record.reason  # 0.01 split over errors and latency
        took = record.decided - first_answer(record)
        print(f"{record.version}: rolled back {took:.1f}s after its first answer")
        # Decided long before the first measurement of a threshold metric would be due.
        assert took < INTERVAL, record.reason
        assert [w for _, w in record.weight_changes() if w] == [5], "never beyond 5%"
