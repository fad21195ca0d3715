"""Blue/green rollouts on the real control plane, judged by a real Prometheus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario, model_deployment

BAD = Traffic(error_ratio=0.5)


def blue_green(**extra: Any) -> dict[str, Any]:
    return {"blueGreen": {"autoPromotionAfter": "2s", "scaleDownDelay": "20s", **extra}}


@pytest.fixture
def s(make_scenario: Callable[..., Scenario]) -> Scenario:
    scenario = make_scenario("ranker")
    scenario.traffic("1.0.0", Traffic())
    scenario.create("1.0.0", strategy=blue_green())
    scenario.wait_healthy("1.0.0")
    return scenario


def preview_revision(s: Scenario) -> str:
    status = s.wait_status(lambda st: (st.get("canary") or {}).get("version") == "2.0.0", "preview")
    return str(status["canary"]["revision"])


def test_blue_green_is_auto_promoted_after_passing_analysis(s: Scenario) -> None:
    s.traffic("2.0.0", Traffic())
    s.set_version("2.0.0")
    preview = preview_revision(s)
    s.wait_status(lambda st: (st.get("canary") or {}).get("readyReplicas") == 2, "preview full")
    assert s.route_canary_weight() == 0, "no live traffic on the preview"
    pods = s.pods(preview)
    status = s.wait_healthy("2.0.0")
    assert status["stable"]["revision"] == preview
    assert s.recorder is not None
    assert s.recorder.weights == [0, 100, 0], "all traffic switched at once"
    assert set(pods) <= set(s.pods(preview)), "promotion restarted nothing"
    assert status["analysis"]["successful"] >= 1


def test_blue_green_rolled_back_in_pre_promotion_analysis(s: Scenario) -> None:
    s.traffic("2.0.0", BAD)
    s.set_version("2.0.0")
    preview_revision(s)
    status = s.wait_status(lambda st: st.get("phase") == "RolledBack", "rollback")
    assert status["stable"]["version"] == "1.0.0"
    assert s.recorder is not None
    assert s.recorder.weights == [0], "live traffic never moved"


def test_post_promotion_failure_returns_to_the_warm_previous_revision(s: Scenario) -> None:
    old = s.status()["stable"]["revision"]
    old_pods = s.pods(old)
    s.traffic("2.0.0", Traffic())
    s.set_version("2.0.0")
    new = preview_revision(s)
    s.wait_healthy("2.0.0")
    assert s.status()["previous"]["revision"] == old
    s.traffic("2.0.0", BAD)
    status = s.wait_status(lambda st: st.get("phase") == "RolledBack", "switched back")
    assert status["stable"]["revision"] == old
    assert status["abortedRevision"] == new
    core = client.CoreV1Api(s.api)
    # The status records the decision first; the Service follows moments later.
    wait_until(
        lambda: (
            core.read_namespaced_service("ranker-stable", s.namespace).spec.selector[
                "modelrollout.io/revision"
            ]
            == old
        ),
        timeout=30,
        what="the stable Service back on the warm previous revision",
    )
    assert s.pods(old) == old_pods, "the same warm pods serve again: no pod started"
    assert status["history"][0]["outcome"] == "RolledBack"


def test_without_a_router_the_switch_moves_the_stable_service_selector(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("plain", route=False)
    s.traffic("1.0.0", Traffic())
    s.traffic("2.0.0", Traffic())
    body = model_deployment("plain", "1.0.0", prometheus.url, strategy=blue_green())
    del body["spec"]["traffic"]
    s.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    old = s.wait_healthy("1.0.0")["stable"]["revision"]
    core = client.CoreV1Api(api)

    def stable_selects() -> str:
        svc = core.read_namespaced_service("plain-stable", namespace)
        return str(svc.spec.selector["modelrollout.io/revision"])

    assert stable_selects() == old
    s.set_version("2.0.0")
    new = preview_revision(s)
    assert stable_selects() == old, "the preview gets no live traffic"
    s.wait_healthy("2.0.0")
    assert stable_selects() == new
