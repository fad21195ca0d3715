"""Canary rollouts on the real control plane, judged by a real Prometheus.

The operator runs as a process; a test exporter's per-version traffic is scraped by
Prometheus; the HTTPRoute is the upstream Gateway API CRD.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api_answers import api_message
from modelrollout.cli.lint import lint_document
from modelrollout.workloads.apply import server_side_apply
from testenv import settings
from testenv.exporter import Traffic
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario, condition_true, model_deployment

EXAMPLE = settings.REPO_ROOT / "examples" / "fraud-scorer.yaml"
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)


@pytest.fixture
def scenario(make_scenario: Callable[..., Scenario]) -> Scenario:
    s = make_scenario("fraud")
    s.traffic("1.0.0", GOOD)
    return s


def healthy_v1(s: Scenario) -> dict[str, Any]:
    s.create("1.0.0")
    status = s.wait_healthy("1.0.0")
    s.wait_route_weight(0)
    return status


def revision_of(s: Scenario, version: str) -> str:
    status = s.wait_status(
        lambda st: (st.get("canary") or {}).get("version") == version, f"canary {version}"
    )
    return str(status["canary"]["revision"])


def test_good_canary_walks_its_steps_and_is_promoted_without_restarts(
    s: Scenario, operator: OperatorProcess
) -> None:
    healthy_v1(s)
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    canary = revision_of(s, "2.0.0")
    s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 50, "canary at 50%")
    ours = (("name", "fraud"), ("namespace", s.namespace))

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = requests.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    # The gauges follow once the decision is recorded and carried out.
    wait_until(
        lambda: samples().get(("modelrollout_canary_weight_percent", ours)) == 50,
        timeout=30,
        what="the canary weight gauge at 50",
    )
    assert samples()[("modelrollout_phase", (*ours, ("phase", "Progressing")))] == 1
    pods_before = s.pods(canary)
    assert pods_before, "the canary has pods while it takes traffic"

    status = s.wait_healthy("2.0.0")

    assert status["stable"]["revision"] == canary
    assert s.recorder is not None
    assert s.recorder.weights == [0, 20, 50, 100, 0], "route weights follow the steps"
    s.wait_route_weight(0)
    pods_after = s.pods(canary)
    assert set(pods_before) <= set(pods_after), "promotion restarted no canary pod"
    assert all(pods_after[uid] for uid in pods_before)
    assert status["history"][0]["outcome"] == "Promoted"
    assert status["analysis"]["successful"] >= 2
    s.wait_events(lambda _t, reason, _m: reason == "Promoted", "a Promoted event")


@pytest.fixture
def s(scenario: Scenario) -> Scenario:
    return scenario


@pytest.mark.parametrize(
    ("bad", "metric"),
    [
        (Traffic(rps=50, error_ratio=0.5), "error-rate"),
        (Traffic(rps=50, latency_seconds=1.5), "latency-p99"),
    ],
    ids=["errors", "slow"],
)
def test_bad_canary_is_rolled_back(s: Scenario, bad: Traffic, metric: str) -> None:
    healthy_v1(s)
    s.traffic("2.0.0", bad)
    s.set_version("2.0.0")
    canary = revision_of(s, "2.0.0")

    status = s.wait_status(lambda st: st.get("phase") == "RolledBack", "rollback")

    s.wait_route_weight(0)
    assert status["stable"]["version"] == "1.0.0"
    assert status["abortedRevision"] == canary
    rolled_back = s.condition("RolledBack")
    assert rolled_back is not None
    assert rolled_back["status"] == "True"
    assert rolled_back["reason"] == "AnalysisFailed"
    assert metric in rolled_back["message"]
    s.wait_events(
        lambda t, r, m: (
            (t, r) == ("Warning", "AnalysisFailed") and metric in m and "above the maximum" in m
        ),
        f"an AnalysisFailed warning naming {metric}",
    )
    # The canary is scaled down after abortScaleDownDelay and the rollback stands.
    s.wait_status(lambda _: not s.pods(canary), "the canary scaled to zero")
    assert s.status()["phase"] == "RolledBack"


def test_canary_without_traffic_is_paused_not_promoted(s: Scenario) -> None:
    healthy_v1(s)
    s.set_version("2.0.0")  # no traffic profile for 2.0.0: the canary gets no requests
    status = s.wait_status(
        lambda st: (
            st.get("phase") == "Paused" and (st.get("analysis") or {}).get("inconclusive", 0) >= 2
        ),
        "Paused after inconclusive measurements",
    )
    assert status["pauseReason"] == "AnalysisInconclusive"
    assert status["stable"]["version"] == "1.0.0"
    assert status["analysis"]["successful"] == 0
    assert status["canary"]["weight"] == 20, "held at its step, not promoted"
    assert "minSampleSize" in status["analysis"]["last"][0]["message"]


def test_prometheus_down_pauses_and_the_rollout_resumes_when_it_returns(
    s: Scenario, prometheus: LocalPrometheus
) -> None:
    healthy_v1(s)
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 20, "canary at 20%")
    port = prometheus.port
    prometheus.stop()
    try:
        status = s.wait_status(
            lambda st: st.get("pauseReason") == "AnalysisErrors", "paused on analysis errors"
        )
        assert status["analysis"]["failed"] == 0, "an unreachable Prometheus is no failed check"
        assert status["canary"]["weight"] == 20
        assert "unreachable" in status["analysis"]["last"][0]["message"]
    finally:
        prometheus.start(port=port)
    s.wait_healthy("2.0.0")
    s.wait_events(lambda _t, reason, _m: reason == "Resumed", "a Resumed event")


def test_operator_killed_mid_rollout_completes_once(s: Scenario, operator: OperatorProcess) -> None:
    healthy_v1(s)
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 20, "canary at 20%")
    operator.kill()
    operator.start()
    status = s.wait_healthy("2.0.0")
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert s.recorder is not None
    assert s.recorder.weights == [0, 20, 50, 100, 0], "no step repeated or skipped"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"strategy": {"canary": {"steps": [{"setWeight": 150}]}}}, "setWeight"),
        (
            {"strategy": {"canary": {"steps": [{"setWeight": 50}, {"setWeight": 20}]}}},
            "must not decrease",
        ),
        ({"strategy": {"canary": {"steps": [{"setWeight": 5, "pause": {}}]}}}, "exactly one"),
        (
            {"strategy": {"canary": {"steps": [{"setWeight": 5}]}, "blueGreen": {}}},
            "exactly one strategy",
        ),
        ({"strategy": {"canary": {"steps": [{"pause": {"duration": "soon"}}]}}}, "duration"),
        ({"replicas": -1}, "replicas"),
    ],
    ids=["weight-range", "decreasing", "step-both", "two-strategies", "duration", "replicas"],
)
def test_invalid_resources_are_rejected_at_apply_time(
    api: client.ApiClient,
    namespace: str,
    modelrollout_crd: list[str],
    change: dict[str, Any],
    says: str,
) -> None:
    body = model_deployment("bad", "1.0.0", "http://127.0.0.1:9")
    body["spec"].update(change)
    assert_refused_alike(api, namespace, body, says)


def assert_refused_alike(
    api: client.ApiClient, namespace: str, body: dict[str, Any], says: str
) -> None:
    """The API server refuses `body` saying `says`, and the offline lint agrees, in the
    same words."""
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
    assert rejected.value.status == 422
    assert says in rejected.value.body
    problems = [str(p) for p in lint_document(body)]
    assert any(says in p for p in problems), problems


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("interval", "0s", "interval must be at least 1s"),
        ("interval", "900ms", "interval must be at least 1s"),
        ("window", "0s", "window must be longer than 0s"),
        ("window", "1s", "must span at least two scrapes"),
    ],
)
def test_analysis_windows_that_never_hold_data_are_rejected_at_apply_time(
    api: client.ApiClient,
    namespace: str,
    modelrollout_crd: list[str],
    field: str,
    value: str,
    says: str,
) -> None:
    body = model_deployment("bad", "1.0.0", "http://127.0.0.1:9")
    body["spec"]["analysis"][field] = value
    assert_refused_alike(api, namespace, body, says)


@pytest.mark.parametrize(
    ("path", "unknown"),
    [(("spec",), "replica"), (("spec", "traffic"), "linkerd")],
)
def test_unknown_fields_are_refused_by_the_api_server_and_by_lint(
    api: client.ApiClient,
    namespace: str,
    modelrollout_crd: list[str],
    path: tuple[str, ...],
    unknown: str,
) -> None:
    body = model_deployment("bad", "1.0.0", "http://127.0.0.1:9")
    where = body
    for key in path:
        where = where[key]
    where[unknown] = 3
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict"
        )
    assert f'unknown field \\"{".".join(path)}.{unknown}\\"' in rejected.value.body
    problems = [str(p) for p in lint_document(body)]
    assert f"{'.'.join(path)}: unknown field: {unknown}" in " ".join(problems), problems


def test_metric_thresholds_are_checked_at_apply_time(
    api: client.ApiClient, namespace: str, modelrollout_crd: list[str]
) -> None:
    body = model_deployment("bad", "1.0.0", "http://127.0.0.1:9")
    body["spec"]["analysis"]["metrics"] = [
        {"name": "m", "template": "errorRate", "min": 0.5, "max": 0.1}
    ]
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
    assert "max must not be below min" in rejected.value.body
    assert any("max must not be below min" in str(p) for p in lint_document(body))


def test_missing_route_is_a_clear_condition_and_changes_nothing(
    api: client.ApiClient,
    namespace: str,
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("lost", route=False)
    s.create("1.0.0")
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert invalid["reason"] == "RouteNotFound"
    assert f"{namespace}/lost not found" in invalid["message"]
    s.wait_events(
        lambda t, r, _m: (t, r) == ("Warning", "RouteNotFound"), "a RouteNotFound warning"
    )
    assert client.AppsV1Api(api).list_namespaced_deployment(namespace).items == []
    assert client.CoreV1Api(api).list_namespaced_service(namespace).items == []
    # Once the route exists, the same resource deploys with no other change.
    s.create_route()
    s.wait_healthy("1.0.0")
    cleared = s.condition("InvalidSpec")
    assert cleared is not None
    assert cleared["status"] == "False"


def test_characters_beyond_the_bmp_reach_the_deployment(
    api: client.ApiClient, namespace: str, make_scenario: Callable[..., Scenario]
) -> None:
    """Found by the spec fuzz: an apply patch is read as YAML, which refuses the
    surrogate-pair escapes a JSON encoder writes for an emoji."""
    s = make_scenario("parrot")
    uri = "s3://models/\U0001f99c/1"
    s.create("1.0.0", model={"version": "1.0.0", "uri": uri})
    s.wait_healthy("1.0.0")
    (deployment,) = client.AppsV1Api(api).list_namespaced_deployment(namespace).items
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["MODEL_URI"] == uri
    # A refused apply still raises with the API server's own message.
    invalid = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    invalid["spec"] = {"replicas": -1, "selector": {}, "template": {}}
    with pytest.raises(ApiException) as refused:
        server_side_apply(api, f"/apis/apps/v1/namespaces/{namespace}/deployments/x", invalid)
    assert refused.value.status == 422
    assert "spec.replicas" in api_message(refused.value)


@pytest.mark.parametrize(
    ("example", "name", "replicas"),
    [
        (EXAMPLE, "fraud-scorer", 4),
        (EXAMPLE.with_name("llm-inference-pool.yaml"), "chat", 2),
        (EXAMPLE.with_name("istio-virtual-service.yaml"), "recommender", 3),
    ],
    ids=["fraud-scorer", "llm-inference-pool", "istio-virtual-service"],
)
def test_the_examples_in_examples_are_accepted_by_the_api_server(
    api: client.ApiClient,
    namespace: str,
    modelrollout_crd: list[str],
    gateway_api_crds: list[str],
    istio_crds: list[str],
    example: Path,
    name: str,
    replicas: int,
) -> None:
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
    custom = client.CustomObjectsApi(api)
    for doc in docs:
        group, version = doc["apiVersion"].split("/")
        plural = {
            "HTTPRoute": "httproutes",
            "VirtualService": "virtualservices",
            "ModelDeployment": PLURAL,
        }[doc["kind"]]
        created = custom.create_namespaced_custom_object(
            group, version, namespace, plural, doc, dry_run="All"
        )
        assert created["metadata"]["name"] == name
        assert not lint_document(doc) or doc["kind"] != "ModelDeployment"
    md = next(d for d in docs if d["kind"] == "ModelDeployment")
    assert ModelDeploymentSpec.model_validate(md["spec"]).replicas == replicas
