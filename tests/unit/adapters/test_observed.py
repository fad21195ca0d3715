"""What the caches keep of owned objects, and the revisions the engine is told about."""

from __future__ import annotations

from typing import Any

from modelrollout.engine.model import RevisionObservation
from modelrollout.workloads.observed import (
    Owned,
    observe_revisions,
    owner_key,
    summarize_deployment,
    summarize_endpoint_slice,
    summarize_service,
)


def deployment(revision: str, replicas: int, ready: int, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"iris-{revision}",
            "namespace": "ml",
            "labels": {"modelrollout.io/name": "iris", "modelrollout.io/revision": revision},
            "annotations": {"modelrollout.io/applied": f"digest-{revision}"},
            **meta,
        },
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready} if ready else {},
    }


def endpoint_slice(service: str, *pods: tuple[str, bool | None]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service}-x1",
            "namespace": "ml",
            "labels": {"kubernetes.io/service-name": service, "modelrollout.io/name": "iris"},
        },
        "endpoints": [
            {"targetRef": {"kind": "Pod", "name": pod}, "conditions": {"ready": ready}}
            for pod, ready in pods
        ],
    }


def test_pods_count_those_asked_for_running_and_terminating() -> None:
    """A capacity budget counts a terminating pod: it still holds its GPU."""
    scaling_down = deployment("a", 2, 2)
    scaling_down["status"] |= {"replicas": 3, "terminatingReplicas": 2}
    assert summarize_deployment(scaling_down)["pods"] == 5
    assert summarize_deployment(deployment("a", 4, 1))["pods"] == 4  # asked for, not yet there


def test_owner_key_comes_from_our_label() -> None:
    assert owner_key(deployment("a", 1, 1)) == ("ml", "iris")
    assert owner_key({"metadata": {"name": "x", "namespace": "ml", "labels": {}}}) is None


def test_summaries_keep_only_what_observation_needs() -> None:
    assert summarize_deployment(deployment("a", 3, 2, uid="d-a", ownerReferences=[ours()])) == {
        "name": "iris-a",
        "uid": "d-a",
        "owner": "md-uid",
        "revision": "a",
        "deleting": False,
        "replicas": 3,
        "ready": 2,
        "pods": 3,
        "applied": "digest-a",
    }
    assert summarize_deployment({"metadata": {"name": "bare"}})["replicas"] == 0
    service = {"metadata": {"name": "iris-stable", "annotations": {"modelrollout.io/applied": "d"}}}
    assert summarize_service(service) == {
        "name": "iris-stable",
        "uid": None,
        "owner": None,
        "applied": "d",
    }
    piece = endpoint_slice(
        "iris-stable", ("iris-a-1", True), ("iris-a-2", False), ("iris-a-3", None)
    )
    piece["endpoints"].append({"targetRef": {"kind": "Node", "name": "n1"}})
    piece["endpoints"].append({"conditions": {"ready": True}})  # no target: not a pod
    assert summarize_endpoint_slice(piece) == {
        "service": "iris-stable",
        "owner": None,
        "pods": ("iris-a-1", "iris-a-3"),  # ready unset means ready
    }


def ours(uid: str = "md-uid", controller: bool = True) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "name": "iris", "uid": uid, "controller": controller}


def test_only_what_the_modeldeployment_controls_is_its_own() -> None:
    """A label finds candidates; the controller reference with our UID makes them ours.
    A stranger's Deployment labelled as a revision is never a revision (never scaled or
    deleted), and the slices of a Service not ours never make a pod ready."""
    mine = deployment("a", 1, 1, uid="d-a", ownerReferences=[ours()])
    stranger = deployment("b", 1, 1, uid="d-b")
    old_owner = deployment("c", 1, 1, uid="d-c", ownerReferences=[ours("deleted-md")])
    not_controller = deployment("d", 1, 1, uid="d-d", ownerReferences=[ours(controller=False)])
    service = {"metadata": {"name": "iris-stable", "uid": "s-1", "ownerReferences": [ours()]}}
    fake_service = {"metadata": {"name": "iris-canary", "uid": "s-2"}}
    pool = {"metadata": {"name": "iris-stable", "uid": "p-1", "ownerReferences": [ours()]}}
    fake_pool = {"metadata": {"name": "iris-canary", "uid": "p-2"}}
    slices = (
        endpoint_slice("iris-stable", ("iris-a-1", True)),
        endpoint_slice("iris-canary", ("iris-b-1", True)),
    )
    slices[0]["metadata"]["ownerReferences"] = [
        {"kind": "Service", "uid": "s-1", "controller": True}
    ]
    slices[1]["metadata"]["ownerReferences"] = [
        {"kind": "Service", "uid": "s-2", "controller": True}
    ]
    everything = Owned(
        tuple(summarize_deployment(d) for d in (mine, stranger, old_owner, not_controller)),
        (summarize_service(service), summarize_service(fake_service)),
        tuple(summarize_endpoint_slice(s) for s in slices),
        (summarize_service(pool), summarize_service(fake_pool)),
    )
    own = everything.of("md-uid")
    assert [d["name"] for d in own.deployments] == ["iris-a"]
    # A Service and an InferencePool share a name: each kind is its own.
    assert own.names() == {
        ("Deployment", "iris-a"),
        ("Service", "iris-stable"),
        ("InferencePool", "iris-stable"),
    }
    assert own.deployment_uid("iris-a") == "d-a"
    assert own.deployment_uid("iris-b") is None
    assert observe_revisions("iris", own) == {
        "a": RevisionObservation(1, 1, "digest-a", frozenset({"stable"}), 1)
    }


def owned(*deployments: dict[str, Any], slices: tuple[dict[str, Any], ...] = ()) -> Owned:
    return Owned(
        tuple(summarize_deployment(d) for d in deployments),
        (),
        tuple(summarize_endpoint_slice(s) for s in slices),
    )


def test_a_pod_counts_as_ready_only_behind_one_of_our_services() -> None:
    seen = observe_revisions(
        "iris",
        owned(
            deployment("a", 3, 3),
            deployment("b", 2, 2),
            slices=(
                endpoint_slice("iris-stable", ("iris-a-1", True), ("iris-a-2", True)),
                endpoint_slice("iris-canary", ("iris-b-1", True)),
                endpoint_slice("other-stable", ("iris-b-2", True)),  # not our Service
            ),
        ),
    )
    assert seen == {
        "a": RevisionObservation(3, 2, "digest-a", frozenset({"stable"}), 3),
        "b": RevisionObservation(2, 1, "digest-b", frozenset({"canary"}), 2),
    }


def test_ready_is_at_most_what_the_deployment_reports() -> None:
    piece = endpoint_slice("iris-stable", ("iris-a-1", True), ("iris-a-2", True))
    assert (
        observe_revisions("iris", owned(deployment("a", 2, 1), slices=(piece,)))["a"].ready_replicas
        == 1
    )


def test_pods_of_another_revision_with_a_longer_name_are_not_mistaken() -> None:
    piece = endpoint_slice("iris-stable", ("iris-ab-1", True))
    seen = observe_revisions(
        "iris", owned(deployment("a", 1, 1), deployment("ab", 1, 1), slices=(piece,))
    )
    assert seen["a"].ready_replicas == 0
    assert seen["ab"].ready_replicas == 1


def test_deleting_and_unlabelled_deployments_are_no_revisions() -> None:
    going = deployment("a", 1, 1, deletionTimestamp="2026-01-01T00:00:00Z")
    bare = deployment("b", 1, 1)
    del bare["metadata"]["labels"]["modelrollout.io/revision"]
    assert observe_revisions("iris", owned(going, bare)) == {}


def test_a_service_serving_both_revisions_is_seen_on_both() -> None:
    piece = endpoint_slice("iris-stable", ("iris-a-1", True), ("iris-b-1", True))
    seen = observe_revisions(
        "iris", owned(deployment("a", 1, 1), deployment("b", 1, 1), slices=(piece,))
    )
    assert seen["a"].serving == seen["b"].serving == frozenset({"stable"})
