"""Judged before users see it, in the traffic lab (real Envoy, model servers, Prometheus):
a mirror step, a header route step, and a blue/green preview fed mirrored traffic.

Every claim is checked on what happened to requests: the load generator's record of
every answer (its version, its status) and Envoy's own per-revision counters, which
count mirrored copies too; and the route is compared with the user's afterwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lab.lab import Lab, lab_model_deployment, version_patch
from lab.load import LoadGenerator, Outcome
from lab.record import RolloutRecord, mirror_gone, play
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.api.vocabulary import REQUEST_ANNOTATION
from modelrollout.engine.model import RequestAction
from modelrollout.engine.request_token import mint
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GW

NAME = "iris"
RPS = 40
BAD = {"MODEL_FAULT_ERROR_RATE": "0.5"}
MIRROR_STEPS = [
    {"mirror": {"percent": 100}},
    {"pause": {"duration": "6s"}},
    {"setWeight": 50},
    {"pause": {"duration": "4s"}},
]
X_CANARY = {"X-Canary": "true"}
HEADER_STEPS = [
    {"headerRoute": {"match": [{"header": {"name": "X-Canary", "value": "true"}}]}},
    {"pause": {}},
]


def deploy(lab: Lab, prometheus: LocalPrometheus, strategy: dict[str, Any]) -> None:
    body = lab_model_deployment(NAME, "1.0.0", prometheus.url, strategy=strategy)
    body["spec"]["analysis"].update(
        minSampleSize=10, metrics=[{"name": "error-rate", "template": "errorRate", "max": 0.05}]
    )
    lab.deploy(body)


def route_spec(lab: Lab) -> dict[str, Any]:
    route: Any = lab.custom.get_namespaced_custom_object(*GW, lab.namespace, "httproutes", NAME)
    return dict(route["spec"])


def envoy_counts(lab: Lab, version: str) -> dict[str, int]:
    clusters = {e.version: e.cluster for e in lab.kubelet.all_endpoints()}
    return lab.gateway.revision_counts()[clusters[version]]


def served_by(outcomes: list[Outcome], version: str) -> list[Outcome]:
    return [o for o in outcomes if o.version == version]


@pytest.mark.timeout(400)
def test_a_bad_version_is_rolled_back_on_mirrored_traffic_with_no_failed_request(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    strategy = {
        "canary": {"steps": MIRROR_STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}
    }
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        deploy(lab, prometheus, strategy)
        users_route = route_spec(lab)
        load = lab.load(RPS)

        good = play(lab, NAME, "2.0.0", load, settle=mirror_gone(lab, "2.0.0"))
        assert good.outcome == "Promoted", good.reason
        first_user = served_by(good.outcomes, "2.0.0")[0].sent
        # Envoy copied requests to 2.0.0 before any user was answered by it.
        copies = [a for a in lab.gateway.history if a.mirrors.get(good.cluster)]
        assert copies, "Envoy never mirrored to the good version"
        assert copies[0].at < first_user
        assert [w for _, w in good.weight_changes() if w][:1] == [50]

        bad = play(lab, NAME, "3.0.0", load, BAD, settle=mirror_gone(lab, "2.0.0"))
        assert bad.outcome == "RolledBack", bad.reason
        assert "error-rate" in bad.reason
        assert all(weight == 0 for _, _, weight in bad.steps), "3.0.0 never had user weight"
        assert route_spec(lab) == users_route, "the route is back to exactly the user's"
        load.stop()
        good_counts, bad_counts = envoy_counts(lab, "2.0.0"), envoy_counts(lab, "3.0.0")

    outcomes = load.outcomes
    # No user request failed, and none was answered by the bad version.
    failed = [o for o in outcomes if not o.ok]
    assert failed == [], when(failed, lab, good, bad)
    assert served_by(outcomes, "3.0.0") == []
    assert good.failed == bad.failed == 0
    # Envoy's counters: the bad revision got mirrored copies and failed about half.
    assert bad_counts["total"] > 0
    assert 0 < bad_counts["5xx"] < bad_counts["total"], bad_counts
    # Envoy counted 2.0.0's mirrored copies besides the requests it answered users: at
    # least a second's worth (the mirror step lasts 6 s or more).
    copies = good_counts["total"] - len(served_by(outcomes, "2.0.0"))
    assert copies > RPS, (good_counts, copies)


def when(failed: list[Outcome], lab: Lab, *records: RolloutRecord) -> str:
    """Where failed requests fell: against each rollout's start and decision, and the
    routings Envoy applied around them (shares and mirrors)."""
    marks = [(r.started, f"{r.version} started") for r in records]
    marks += [(r.decided, f"{r.version} {r.outcome}") for r in records]
    marks += [(a.at, f"Envoy: shares {a.shares} mirrors {a.mirrors}") for a in lab.gateway.history]
    marks += [(o.sent, f"FAILED {o.status} {o.version!r} after {o.latency:.3f}s") for o in failed]
    first = min(at for at, _ in marks)
    return "\n".join(f"{at - first:8.3f} {what}" for at, what in sorted(marks))


def request(lab: Lab, action: RequestAction) -> None:
    token = mint(action, datetime.now(UTC))
    patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: token}}}
    lab.custom.patch_namespaced_custom_object(GROUP, VERSION, lab.namespace, PLURAL, NAME, patch)


def held_with_header_route(lab: Lab, load: LoadGenerator, version: str) -> None:
    """Start `version`, wait until it is held with its header route in Envoy, and check
    who answered whom over three seconds of traffic."""
    lab.custom.patch_namespaced_custom_object(
        GROUP, VERSION, lab.namespace, PLURAL, NAME, version_patch(version)
    )
    wait_until(
        lambda: lab.status(NAME).get("pauseReason") == "PauseStep",
        timeout=120,
        what=f"{version} held at its pause step",
    )
    wait_until(
        lambda: any(o.tagged and o.version == version for o in load.between(time.time() - 1)),
        timeout=30,
        what=f"a request with the header answered by {version}",
    )
    start = time.time()
    wait_until(lambda: time.time() > start + 3, timeout=10, what="three seconds of traffic")
    window = load.between(start, start + 3)
    tagged = [o for o in window if o.tagged]
    assert len(tagged) >= 10, "too few requests with the header to judge"
    assert {o.version for o in tagged} == {version}, "a request with the header went to stable"
    stable = lab.status(NAME)["stable"]["version"]
    assert {o.version for o in window if not o.tagged} == {stable}


@pytest.mark.timeout(400)
def test_a_header_route_sends_exactly_the_requests_with_the_header_to_the_canary(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    strategy = {
        "canary": {"steps": HEADER_STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}
    }
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        deploy(lab, prometheus, strategy)
        users_route = route_spec(lab)
        load = lab.load(RPS, headers=X_CANARY, share=0.25)

        held_with_header_route(lab, load, "2.0.0")
        request(lab, "promote-full")
        wait_until(
            lambda: (
                lab.status(NAME).get("phase") == "Healthy"
                and lab.status(NAME)["stable"]["version"] == "2.0.0"
            ),
            timeout=120,
            what="2.0.0 promoted",
        )
        wait_until(lambda: route_spec(lab) == users_route, timeout=30, what="the user's route")

        held_with_header_route(lab, load, "3.0.0")
        request(lab, "abort")
        wait_until(
            lambda: lab.status(NAME).get("phase") == "RolledBack",
            timeout=60,
            what="3.0.0 rolled back",
        )
        wait_until(lambda: route_spec(lab) == users_route, timeout=30, what="the user's route")
        rolled_back = time.time()
        wait_until(
            lambda: len([o for o in load.between(rolled_back + 1) if o.tagged]) >= 10,
            timeout=30,
            what="requests with the header after the rollback",
        )
        load.stop()

    # After the rollback, requests with the header are answered by stable again.
    assert {o.version for o in load.between(rolled_back + 1)} == {"2.0.0"}
    assert [o for o in load.outcomes if not o.ok] == []


@pytest.mark.timeout(400)
def test_a_blue_green_preview_is_judged_on_mirrored_traffic(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    strategy = {
        "blueGreen": {
            "previewTraffic": {"mirror": {"percent": 100}},
            "autoPromotionAfter": "4s",
            "scaleDownDelay": "2s",
            "abortScaleDownDelay": "2s",
        }
    }
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        deploy(lab, prometheus, strategy)
        users_route = route_spec(lab)
        load = lab.load(RPS)

        good = play(lab, NAME, "2.0.0", load, settle=mirror_gone(lab, "2.0.0"))
        assert good.outcome == "Promoted", good.reason
        assert "the preview passed" in good.reason
        bad = play(lab, NAME, "3.0.0", load, BAD, settle=mirror_gone(lab, "2.0.0"))
        assert bad.outcome == "RolledBack", bad.reason
        assert "error-rate" in bad.reason
        assert route_spec(lab) == users_route
        load.stop()
        bad_counts = envoy_counts(lab, "3.0.0")

    # The bad preview failed mirrored copies only: no user saw it, none failed.
    assert 0 < bad_counts["5xx"] < bad_counts["total"], bad_counts
    assert served_by(load.outcomes, "3.0.0") == []
    assert [o for o in load.outcomes if not o.ok] == []
