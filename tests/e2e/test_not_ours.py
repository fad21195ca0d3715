"""A ModelDeployment never takes over what it did not make: a Service or Deployment that
already holds a name it needs, or a stranger's Deployment labelled as its revision, is
left exactly as it was, and the ModelDeployment says which object is in the way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from modelrollout.api.spec import ModelDeploymentSpec
from testenv.exporter import Traffic
from testenv.rollouts import Scenario, condition_true

GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)


def helm_service(name: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/managed-by": "Helm"}),
        spec=client.V1ServiceSpec(
            selector={"app": "theirs"}, ports=[client.V1ServicePort(port=80, target_port=8080)]
        ),
    )


def strangers_deployment(name: str, labels: dict[str, str]) -> client.V1Deployment:
    pod_labels = {"app": "stranger"}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=pod_labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=pod_labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="c", image="example.test/theirs:1")]
                ),
            ),
        ),
    )


def as_stored(obj: Any) -> tuple[Any, ...]:
    """What must not change: its spec (generation counts every change), owners, labels
    and annotations. (Its status, and its revision annotation, are its controller's.)"""
    meta = obj.metadata
    notes = {
        k: v
        for k, v in (meta.annotations or {}).items()
        if not k.startswith("deployment.kubernetes.io/")
    }
    return meta.uid, meta.generation, meta.owner_references, meta.labels, notes


def invalid_naming(what: str) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        return condition_true("InvalidSpec")(status) and what in status.get("message", "")

    return check


def test_a_service_that_holds_our_name_is_left_as_it_is(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("taken")
    theirs = s.core.create_namespaced_service(s.namespace, helm_service("taken-stable"))
    s.traffic("1.0.0", GOOD)
    s.create("1.0.0")
    status = s.wait_status(
        invalid_naming(f"Service {s.namespace}/taken-stable already exists"), "InvalidSpec"
    )
    assert "managed by Helm, no controller" in status["message"]
    assert s.apps.list_namespaced_deployment(s.namespace).items == [], "nothing applied"
    # Given time to act (the operator rechecks), it still has not touched the Service.
    s.wait_events(lambda _type, _reason, message: "already exists" in message, "the Event")
    now = s.core.read_namespaced_service("taken-stable", s.namespace)
    assert as_stored(now) == as_stored(theirs)
    assert now.spec.selector == {"app": "theirs"}
    # Once it is gone, the ModelDeployment goes on by itself.
    s.core.delete_namespaced_service("taken-stable", s.namespace)
    s.wait_healthy("1.0.0")


def test_a_strangers_deployment_is_never_a_revision(
    make_scenario: Callable[..., Scenario],
) -> None:
    s = make_scenario("labelled")
    s.traffic("1.0.0", GOOD)
    s.traffic("2.0.0", GOOD)
    # Labelled as a revision of this ModelDeployment, but not made by it.
    labels = {"modelrollout.io/name": "labelled", "modelrollout.io/revision": "0123456789"}
    stranger = s.apps.create_namespaced_deployment(
        s.namespace, strangers_deployment("stranger", labels)
    )
    s.create("1.0.0")
    s.wait_healthy("1.0.0")
    # And one holding the name the next revision's Deployment will need.
    revision = ModelDeploymentSpec.model_validate(
        s.set_version("2.0.0", dry_run=True)["spec"]
    ).revision()
    squatter = s.apps.create_namespaced_deployment(
        s.namespace, strangers_deployment(f"labelled-{revision}", {})
    )
    s.set_version("2.0.0")
    s.wait_status(
        invalid_naming(f"Deployment {s.namespace}/labelled-{revision} already exists"),
        "InvalidSpec naming the squatter",
    )
    assert s.status()["stable"]["version"] == "1.0.0", "the serving version keeps serving"
    s.apps.delete_namespaced_deployment(f"labelled-{revision}", s.namespace)
    s.wait_healthy("2.0.0", timeout=120)
    # Promoted, the old revision garbage-collected: the stranger was neither.
    now = s.apps.read_namespaced_deployment("stranger", s.namespace)
    assert as_stored(now) == as_stored(stranger)
    assert now.spec.replicas == 1
    assert squatter.metadata.uid != _uid_or_none(s, f"labelled-{revision}")


def _uid_or_none(s: Scenario, name: str) -> str | None:
    try:
        uid: str = s.apps.read_namespaced_deployment(name, s.namespace).metadata.uid
    except client.ApiException:
        return None
    return uid
