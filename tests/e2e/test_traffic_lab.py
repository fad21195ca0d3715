"""The traffic lab, shortened: real Envoy, real model-server processes, real load.

A good version is promoted and a bad one (failing half its requests) rolled back,
judged on what Envoy actually served (its per-revision counters) and on the load
generator's record of every request, not only on the ModelDeployment status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lab.lab import Lab, lab_model_deployment
from lab.load import Outcome
from lab.record import RolloutRecord, old_pods_gone, play
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus

NAME = "iris"
RPS = 40
BAD = {"MODEL_FAULT_ERROR_RATE": "0.5"}
SLOW_LOAD = {"MODEL_FAULT_SLOW_START_SECONDS": "2"}  # ready only 2 s after it starts
STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "4s"}},
    {"setWeight": 50},
    {"pause": {"duration": "4s"}},
]


def _served(outcomes: list[Outcome], version: str) -> list[Outcome]:
    return [o for o in outcomes if o.version == version]


@pytest.mark.timeout(400)
def test_good_version_promoted_bad_version_rolled_back_on_real_traffic(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        body = lab_model_deployment(
            NAME,
            "1.0.0",
            prometheus.url,
            strategy={
                "canary": {"steps": STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}
            },
        )
        body["spec"]["analysis"].update(
            minSampleSize=10, metrics=[{"name": "error-rate", "template": "errorRate", "max": 0.05}]
        )
        lab.deploy(body)
        load = lab.load(RPS)

        # A good version that loads slowly: no traffic before it is ready, promoted, and no
        # request fails on the way (loading, promotion, scale-down).
        canary_pods: set[str] = set()

        def watch_canary(record: RolloutRecord, status: dict[str, Any]) -> None:
            if (status.get("canary") or {}).get("version") == "2.0.0":
                canary_pods.update(e.uid for e in lab.kubelet.endpoints() if e.version == "2.0.0")

        good = play(
            lab,
            NAME,
            "2.0.0",
            load,
            SLOW_LOAD,
            settle=old_pods_gone(lab, "2.0.0"),
            on_poll=watch_canary,
        )
        assert good.outcome == "Promoted"
        first_answer = _served(good.outcomes, "2.0.0")[0].sent
        assert first_answer - good.started >= 2.0, "traffic reached 2.0.0 before it had loaded"
        assert [w for _, w in good.weight_changes() if w][:2] == [10, 50]
        # Promotion scales the canary up to full size; the pods that served the canary stay.
        promoted = {e.uid: e for e in lab.kubelet.endpoints() if e.version == "2.0.0"}
        assert canary_pods
        assert canary_pods <= set(promoted), "promotion replaced canary pods"
        assert all(promoted[uid].pids == promoted[uid].pids[:1] for uid in canary_pods)
        assert all(promoted[uid].restarts == 0 for uid in canary_pods), "a model restarted"

        # A bad version: rolled back on its errors; Envoy sends it nothing afterwards.
        bad = play(lab, NAME, "3.0.0", load, BAD, settle=old_pods_gone(lab, "2.0.0"))
        assert bad.outcome == "RolledBack"
        assert "error-rate" in bad.reason
        assert bad.shares[-1][1] == 0.0
        settled = bad.shares[-1][0]
        wait_until(
            lambda: len(load.between(settled + 0.5)) >= 2 * RPS,
            timeout=30,
            what="two seconds of traffic after the rollback",
        )
        load.stop()
        counts = lab.gateway.revision_counts()

    outcomes = load.outcomes
    # Every request got an answer from a model server; only the bad version failed any.
    assert [o for o in outcomes if o.status == 0 or not o.version] == []
    assert [o for o in outcomes if not o.ok and o.version != "3.0.0"] == []
    assert good.failed == 0
    bad_served = _served(bad.outcomes, "3.0.0")
    assert bad_served, "the bad version never got traffic"
    # It failed about half (a few dozen requests: the exact share is the unit tests' job).
    failures = sum(not o.ok for o in bad_served)
    assert 0 < failures < len(bad_served), (failures, len(bad_served))
    # After the rollback settled, only the stable version answers.
    assert {o.version for o in load.between(settled + 0.5)} == {"2.0.0"}
    # Envoy's own per-revision counters agree with the record, request for request.
    clusters = {e.version: e.cluster for e in lab.kubelet.all_endpoints()}
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        served = _served(outcomes, version)
        envoy = counts[clusters[version]]
        assert envoy["total"] == len(served), (version, envoy, len(served))
        assert envoy["2xx"] == sum(o.ok for o in served)
        assert envoy["5xx"] == sum(o.status >= 500 for o in served)
