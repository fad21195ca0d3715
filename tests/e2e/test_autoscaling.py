"""An HPA autoscales a ModelDeployment mid-rollout, through the real chain: the HPA
controller of kube-controller-manager reads the model's request rate (an External
metric) from the test Prometheus through prometheus-adapter, built from its Go module,
and writes the ModelDeployment's scale subresource. The revisions follow the total:
a canary at 50% gets half of it and stable all of it (no budget), a blue/green preview
and stable each get all of it; no pod is restarted, and promotion keeps the total."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.metrics_adapter import REQUESTS_PER_SECOND, MetricsAdapter
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario

PER_POD = 10  # requests per second one pod serves: the HPA's AverageValue target


@pytest.fixture(scope="module")
def metrics_adapter(
    cluster: Cluster,
    api: client.ApiClient,
    prometheus: LocalPrometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MetricsAdapter]:
    adapter = MetricsAdapter(tmp_path_factory.mktemp("adapter"), cluster.kubeconfig, prometheus.url)
    adapter.start(api)
    yield adapter
    adapter.stop(api)


def autoscaler(name: str) -> dict[str, Any]:
    instant = {"stabilizationWindowSeconds": 0}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ModelDeployment",
                "name": name,
            },
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": REQUESTS_PER_SECOND,
                            "selector": {"matchLabels": {"model": name}},
                        },
                        "target": {"type": "AverageValue", "averageValue": str(PER_POD)},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {**instant, "policies": [_at_once(1000)]},
                "scaleDown": {**instant, "policies": [_at_once(100)]},
            },
        },
    }


def _at_once(percent: int) -> dict[str, Any]:
    return {"type": "Percent", "value": percent, "periodSeconds": 1}


def load(s: Scenario, versions: dict[str, float]) -> None:
    """Requests per second each version serves (the exporter Prometheus scrapes)."""
    for version, rps in versions.items():
        s.traffic(version, Traffic(rps=rps))


def sizes(s: Scenario) -> dict[str, int]:
    """Revision -> the replicas its Deployment asks for."""
    found: Any = s.apps.list_namespaced_deployment(
        s.namespace, label_selector=f"modelrollout.io/name={s.name}"
    )
    return {d.metadata.labels["modelrollout.io/revision"]: d.spec.replicas for d in found.items}


def pods(s: Scenario) -> set[str]:
    found: Any = s.core.list_namespaced_pod(
        s.namespace, label_selector=f"modelrollout.io/name={s.name}"
    )
    return {p.metadata.uid for p in found.items if p.metadata.deletion_timestamp is None}


def scaled_to(s: Scenario, total: int, expected: Callable[[int], dict[str, int]]) -> None:
    """The HPA sets `total`, and the revisions' Deployments reach the sizes expected."""
    wait_until(
        lambda: s.get()["spec"]["replicas"] == total,
        timeout=90,
        what=f"the HPA setting {total} replicas",
    )
    status = s.status()
    live = {role: status[role]["revision"] for role in ("stable", "canary") if status.get(role)}
    want = {live[role]: n for role, n in expected(total).items()}
    wait_until(lambda: sizes(s) | want == sizes(s), timeout=60, what=f"sizes {want}")
    wait_until(
        lambda: len(pods(s)) == sum(want.values()), timeout=60, what=f"{sum(want.values())} pods"
    )


STRATEGIES = {
    # held at 50%: the canary is sized for half the total, stable keeps all of it
    "canary": (
        {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}], "scaleDownDelay": "2s"}},
        lambda total: {"stable": total, "canary": -(-total // 2)},
    ),
    # the preview waits for a person: it and stable are each the whole total
    "blueGreen": (
        {"blueGreen": {"scaleDownDelay": "2s"}},
        lambda total: {"stable": total, "canary": total},
    ),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_an_hpa_resizes_both_revisions_mid_rollout_without_a_restart(
    kind: str,
    make_scenario: Callable[..., Scenario],
    metrics_adapter: MetricsAdapter,
) -> None:
    strategy, expected = STRATEGIES[kind]
    s = make_scenario(f"hpa-{kind.lower()}")
    load(s, {"1.0.0": 2 * PER_POD})
    s.create("1.0.0", replicas=1, strategy=strategy)
    s.wait_healthy("1.0.0")
    autoscaling = client.AutoscalingV2Api(s.api)
    autoscaling.create_namespaced_horizontal_pod_autoscaler(s.namespace, autoscaler(s.name))
    wait_until(lambda: s.get()["spec"]["replicas"] == 2, timeout=90, what="the HPA's first 2")

    load(s, {"1.0.0": PER_POD, "2.0.0": PER_POD})  # the same 20 rps, split
    s.set_version("2.0.0")
    s.wait_status(lambda st: st.get("phase") == "Paused", "the rollout held", timeout=120)
    scaled_to(s, 2, expected)

    before = pods(s)
    load(s, {"1.0.0": 3 * PER_POD, "2.0.0": 3 * PER_POD})
    scaled_to(s, 6, expected)
    assert before <= pods(s), "scaling up replaced a pod"
    scale: Any = s.custom.get_namespaced_custom_object_scale(
        GROUP, VERSION, s.namespace, PLURAL, s.name
    )
    assert scale["status"]["replicas"] == sum(expected(6).values())

    before = pods(s)
    load(s, {"1.0.0": PER_POD, "2.0.0": PER_POD})
    scaled_to(s, 2, expected)
    assert pods(s) <= before, "scaling down started a pod"

    canary = s.status()["canary"]["revision"]
    kept = pods(s)
    s.request("promote-full" if kind == "canary" else "promote")
    s.wait_healthy("2.0.0", timeout=120)
    assert sizes(s)[canary] == s.get()["spec"]["replicas"], "promotion keeps the total"
    serving = {
        p.metadata.uid
        for p in s.core.list_namespaced_pod(
            s.namespace, label_selector=f"modelrollout.io/revision={canary}"
        ).items
    }
    assert serving & kept, "the promoted revision's pods were replaced"
    autoscaling.delete_namespaced_horizontal_pod_autoscaler(s.name, s.namespace)
