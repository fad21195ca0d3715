"""A ModelDeployment is scaled the way an autoscaler scales it: through its scale
subresource (what `kubectl scale`, the HPA controller and KEDA write and read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario


def pods(s: Scenario, selector: str) -> set[str]:
    found = s.core.list_namespaced_pod(s.namespace, label_selector=selector).items
    return {p.metadata.name for p in found if p.metadata.deletion_timestamp is None}


def test_the_scale_subresource_sizes_the_serving_revision_without_a_restart(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("scaled")
    s.traffic("1.0.0", Traffic())
    s.create("1.0.0")
    s.wait_healthy("1.0.0")
    scale: Any = s.custom.get_namespaced_custom_object_scale(
        GROUP, VERSION, s.namespace, PLURAL, s.name
    )
    selector = scale["status"]["selector"]
    assert selector == "modelrollout.io/name=scaled"
    assert scale["status"]["replicas"] == 2
    before = pods(s, selector)
    assert len(before) == 2

    s.custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, s.namespace, PLURAL, s.name, {"spec": {"replicas": 4}}
    )
    s.wait_status(lambda st: st.get("replicas") == 4, "status.replicas 4")
    revision = s.status()["stable"]["revision"]
    apps = client.AppsV1Api(s.api)
    assert apps.read_namespaced_deployment(f"scaled-{revision}", s.namespace).spec.replicas == 4
    wait_until(lambda: len(pods(s, selector)) == 4, timeout=60, what="four pods")
    assert before <= pods(s, selector), "no pod restarted or replaced"
    scaled: Any = s.custom.get_namespaced_custom_object_scale(
        GROUP, VERSION, s.namespace, PLURAL, s.name
    )
    assert (scaled["spec"]["replicas"], scaled["status"]["replicas"]) == (4, 4)
