"""Replica ratio on the real control plane: no mesh and no route, one Service selecting
the pods of every revision, and the canary's weight its share of the ready pods. The
operator keeps the Service, sizes the revisions for each weight within the surge, and
leaves no pod of a revision without weight (no scale-down delay applies: such a pod
would take traffic). A user's Service that misses a revision is InvalidSpec and stays
as it was; a step the pods cannot carry (a mirror) is refused naming the router."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import Scenario, condition_true

NAME = "scorer"
REPLICAS = 4
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
RATIO = {"replicaRatio": {}}
SLOW = {"scaleDownDelay": "10m", "abortScaleDownDelay": "10m"}  # never waited for here


def canary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"canary": {"steps": steps, **SLOW}}


@pytest.fixture
def s(make_scenario: Callable[..., Scenario]) -> Scenario:
    scenario = make_scenario(NAME, route=False)
    scenario.traffic("1.0.0", GOOD)
    return scenario


def sizes(s: Scenario) -> dict[str, int]:
    """Revision -> replicas, of the ModelDeployment's Deployments."""
    found = s.apps.list_namespaced_deployment(
        s.namespace, label_selector=f"modelrollout.io/name={NAME}"
    ).items
    return {d.metadata.labels["modelrollout.io/revision"]: d.spec.replicas for d in found}


def serving(s: Scenario) -> dict[str, int]:
    """Revision -> ready endpoints of the Service of every pod (what kube-proxy
    balances over)."""
    slices = (
        client.DiscoveryV1Api(s.api)
        .list_namespaced_endpoint_slice(
            s.namespace, label_selector=f"kubernetes.io/service-name={NAME}"
        )
        .items
    )
    counts: dict[str, int] = {}
    for piece in slices:
        for endpoint in piece.endpoints or []:
            if endpoint.conditions.ready and endpoint.target_ref is not None:
                pod = s.core.read_namespaced_pod(endpoint.target_ref.name, s.namespace)
                revision = pod.metadata.labels["modelrollout.io/revision"]
                counts[revision] = counts.get(revision, 0) + 1
    return counts


def settles(s: Scenario, want: dict[str, int], what: str) -> None:
    """The Deployments' sizes and the Service's ready endpoints both become `want`
    (revisions absent from it at 0)."""

    def there() -> bool:
        sized = {r: n for r, n in sizes(s).items() if n}
        return sized == want and serving(s) == want

    wait_until(there, timeout=90, what=f"{what}: {want}")


def test_a_ratio_canary_is_promoted_rolled_back_and_aborted(s: Scenario) -> None:
    s.create("1.0.0", replicas=REPLICAS, traffic=RATIO, strategy=canary([{"setWeight": 50}]))
    s.wait_healthy("1.0.0")
    v1 = s.get_revision()
    service = s.core.read_namespaced_service(NAME, s.namespace)
    assert service.spec.selector == {"modelrollout.io/name": NAME}
    assert service.metadata.owner_references[0].name == NAME
    settles(s, {v1: REPLICAS}, "all pods of 1.0.0 behind the Service")

    # Held at setWeight 5: one pod of four (25%), stable down to three.
    s.patch({"spec": {"strategy": canary([{"setWeight": 5}, {"pause": {}}])}})
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    held = s.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at one pod")
    v2 = held["canary"]["revision"]
    assert held["canary"]["weight"] == 25, "5% in whole pods of 4"
    settles(s, {v1: 3, v2: 1}, "one canary pod of four")
    assert any("setWeight 5 in whole pods of 4" in m for _, _, m in s.events())

    # Promoted: the canary takes every pod, stable leaves at once (no scale-down delay).
    s.request("promote-full")
    s.wait_healthy("2.0.0")
    settles(s, {v2: REPLICAS}, "all pods of 2.0.0, none of 1.0.0")

    # Rolled back by the judge at 50%: stable returns, the canary leaves at once.
    s.patch({"spec": {"strategy": canary([{"setWeight": 50}, {"pause": {"duration": "1m"}}])}})
    s.traffic("3.0.0", BAD)
    s.set_version("3.0.0")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "rollback")
    settles(s, {v2: REPLICAS}, "all pods of 2.0.0 again")

    # Aborted by a person while it holds 50%.
    s.traffic("4.0.0", GOOD)
    s.patch({"spec": {"strategy": canary([{"setWeight": 50}, {"pause": {}}])}})
    s.set_version("4.0.0")
    held = s.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at 50%")
    settles(s, {v2: 2, held["canary"]["revision"]: 2}, "two canary pods of four")
    s.request("abort")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "abort")
    settles(s, {v2: REPLICAS}, "all pods of 2.0.0 again")


def test_a_users_service_that_misses_a_revision_is_invalid_and_left_alone(
    s: Scenario, api: client.ApiClient
) -> None:
    theirs = client.V1Service(
        metadata=client.V1ObjectMeta(name="scorer-web"),
        spec=client.V1ServiceSpec(
            selector={"modelrollout.io/name": NAME, "version": "1"},
            ports=[client.V1ServicePort(port=80)],
        ),
    )
    made = s.core.create_namespaced_service(s.namespace, theirs)
    s.create("1.0.0", replicas=REPLICAS, traffic={"replicaRatio": {"service": "scorer-web"}})
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert invalid["reason"] == "RouteInvalid"
    assert invalid["message"].startswith(f"Service {s.namespace}/scorer-web selects version=1")
    after = s.core.read_namespaced_service("scorer-web", s.namespace)
    assert after.metadata.resource_version == made.metadata.resource_version
    assert client.AppsV1Api(api).list_namespaced_deployment(s.namespace).items == []


def test_a_mirror_step_is_refused_naming_the_router(s: Scenario) -> None:
    steps = [{"mirror": {"percent": 50}}, {"setWeight": 50}]
    s.create("1.0.0", replicas=REPLICAS, traffic=RATIO, strategy=canary(steps))
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert invalid["message"] == (
        f"step 1 (mirror) needs mirror from its router, which replica ratio on Service "
        f"{s.namespace}/{NAME} does not support"
    )
