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

from lab.lab import Lab, lab_model_deployment, version_patch
from lab.load import Outcome
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GW, condition_true, http_route

NAME = "iris"
RPS = 40
BAD = {"MODEL_FAULT_ERROR_RATE": "0.5"}
STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "4s"}},
    {"setWeight": 50},
    {"pause": {"duration": "4s"}},
]


def _status(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    md: Any = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, NAME)
    return dict(md.get("status") or {})


def _wait_status(
    custom: client.CustomObjectsApi, namespace: str, predicate: Any, what: str
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = [{}]

    def check() -> bool:
        seen[0] = _status(custom, namespace)
        return bool(predicate(seen[0]))

    wait_until(check, timeout=120, what=what)
    return seen[0]


def _healthy(version: str) -> Any:
    return lambda s: (
        s.get("phase") == "Healthy"
        and (s.get("stable") or {}).get("version") == version
        and not s.get("canary")
    )


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
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        custom.create_namespaced_custom_object(
            *GW, namespace, "httproutes", http_route(NAME, f"{NAME}-stable", f"{NAME}-canary")
        )
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
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        _wait_status(custom, namespace, _healthy("1.0.0"), "Healthy on 1.0.0")
        load = lab.load(RPS)
        wait_until(
            lambda: len(_served(load.between(0), "1.0.0")) >= RPS,
            timeout=30,
            what="1.0.0 answering through Envoy",
        )

        # A good version: promoted, and no request fails on the way (promotion, scale-down).
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, NAME, version_patch("2.0.0")
        )
        canary = _wait_status(
            custom,
            namespace,
            lambda s: (s.get("canary") or {}).get("weight", 0) >= 50,
            "2.0.0 canary at 50%",
        )
        revision = canary["canary"]["revision"]
        selector = f"modelrollout.io/revision={revision}"
        pods_before = {
            p.metadata.uid
            for p in core.list_namespaced_pod(namespace, label_selector=selector).items
        }
        _wait_status(custom, namespace, _healthy("2.0.0"), "Healthy on 2.0.0")
        wait_until(
            lambda: not [e for e in lab.kubelet.endpoints() if e.version == "1.0.0"],
            timeout=60,
            what="1.0.0 scaled down and its processes stopped",
        )
        pods_after = {
            p.metadata.uid
            for p in core.list_namespaced_pod(namespace, label_selector=selector).items
        }
        # Promotion scales the canary up to full size; the pods that served the canary stay.
        assert pods_before
        assert pods_before <= pods_after, "promotion replaced canary pods"
        promoted = [e for e in lab.kubelet.endpoints() if e.uid in pods_before]
        assert len(promoted) == len(pods_before)
        assert all(len(e.pids) == 1 and e.restarts == 0 for e in promoted), (
            "promotion restarted a model"
        )

        # A bad version: rolled back on its errors.
        bad_started = load.outcomes[-1].sent
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, NAME, version_patch("3.0.0", BAD)
        )
        rolled_back = _wait_status(
            custom, namespace, condition_true("RolledBack"), "3.0.0 rolled back"
        )
        assert (rolled_back.get("stable") or {}).get("version") == "2.0.0"
        wait_until(
            lambda: lab.gateway.history[-1].shares.get(f"{namespace}.{NAME}-{revision}") == 1.0,
            timeout=30,
            what="Envoy sending everything to 2.0.0 again",
        )
        settled = lab.gateway.history[-1].at
        wait_until(
            lambda: len(load.between(settled + 0.5)) >= 2 * RPS,
            timeout=30,
            what="two seconds of traffic after the rollback",
        )
        load.stop()

        outcomes = load.outcomes
        counts = lab.gateway.revision_counts()

    by_version = {v: _served(outcomes, v) for v in ("1.0.0", "2.0.0", "3.0.0")}
    clusters = {e.version: e.cluster for e in lab.kubelet.all_endpoints()}
    # Every request got an answer from a model server; only the bad version failed any.
    assert [o for o in outcomes if o.status == 0 or not o.version] == []
    assert [o for o in outcomes if not o.ok and o.version != "3.0.0"] == []
    bad = by_version["3.0.0"]
    assert bad, "the bad version never got traffic"
    assert 0.25 < sum(not o.ok for o in bad) / len(bad) < 0.75
    # After the rollback settled, only the stable version answers.
    assert {o.version for o in load.between(settled + 0.5)} == {"2.0.0"}
    assert all(o.ok for o in load.between(0, bad_started))
    # Envoy's own per-revision counters agree with the record, request for request.
    for version, served in by_version.items():
        envoy = counts[clusters[version]]
        assert envoy["total"] == len(served), (version, envoy, len(served))
        assert envoy["2xx"] == sum(o.ok for o in served)
        assert envoy["5xx"] == sum(o.status >= 500 for o in served)
