"""The event-driven loop on a real control plane: idle costs nothing, and decisions made
while someone else writes the object are recorded exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv.apiserver import WRITE_VERBS, Request, dispatched, request_counts
from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.rollouts import Scenario, count_healthy, create_idle
from testenv.serviceaccounts import service_account_kubeconfig

IDLE_OBJECTS = 50
WINDOW_SECONDS = 30  # the measurement window, as the issue states it
# What the operator reads or writes; other controllers on an idle cluster touch none of
# these (nodes, leases and pods are kwok's and the control plane's own).
OPERATOR_RESOURCES = {  # (group, resource)
    ("modelrollout.io", "modeldeployments"),
    ("apps", "deployments"),
    ("", "services"),
    ("discovery.k8s.io", "endpointslices"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("", "events"),  # the scheduler's are events.k8s.io
    ("", "secrets"),
}
# Watches are long-lived; kopf re-opens one per watched kind (5) at most every 5 minutes
# (its server timeout), so a window sees at most one re-open per kind.
READ_BOUND = 5


def operator_requests(counts: Counter[Request], verbs: set[str]) -> dict[Request, int]:
    return {
        key: n
        for key, n in counts.items()
        if (key[3], key[0]) in OPERATOR_RESOURCES and key[2] in verbs and n
    }


@pytest.fixture
def operator_as_service_account(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    session_operator_stopped: None,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """An operator authenticating as a ServiceAccount, so the API server's flow-control
    metrics count its requests apart from every other client's (the garbage collector,
    for one, reads ModelDeployments to check owner references)."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="operator"))
    )
    binding = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=f"{namespace}-operator"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
        ),
        subjects=[
            client.RbacV1Subject(kind="ServiceAccount", name="operator", namespace=namespace)
        ],
    )
    rbac.create_cluster_role_binding(binding)
    kubeconfig = service_account_kubeconfig(
        api, cluster.kubeconfig, namespace, "operator", tmp_path / "sa.kubeconfig"
    )
    operator = OperatorProcess(kubeconfig, tmp_path / "operator")
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
        rbac.delete_cluster_role_binding(binding.metadata.name)


def test_fifty_healthy_model_deployments_cost_the_api_server_nothing(
    api: client.ApiClient,
    namespace: str,
    modelrollout_crd: list[str],
    gateway_api_crds: list[str],
    operator_as_service_account: OperatorProcess,
) -> None:
    """Each with 1 replica, a canary strategy and its own HTTPRoute."""
    operator = operator_as_service_account
    create_idle(api, namespace, [f"idle-{i}" for i in range(IDLE_OBJECTS)])
    wait_until(
        lambda: count_healthy(api, namespace) == IDLE_OBJECTS,
        timeout=180,
        what=f"{IDLE_OBJECTS} Healthy",
    )
    # Settled: no reconcile and no request from the operator for 2 s (the Healthy
    # write's own watch event has been decided on, and the Events kopf queued are posted).
    last: list[object] = [None]

    def settled() -> bool:
        now = (operator.reconciles(), dispatched(api))
        unchanged, last[0] = now == last[0], now
        return unchanged

    wait_until(settled, timeout=60, what="the operator quiet for 2 s", interval=2)

    before, decided, requested = request_counts(api), operator.reconciles(), dispatched(api)
    time.sleep(WINDOW_SECONDS)  # the measurement window itself
    delta, requests_made = request_counts(api) - before, dispatched(api) - requested

    print(f"idle, {IDLE_OBJECTS} objects, {WINDOW_SECONDS}s: {requests_made} requests")
    writes = operator_requests(delta, WRITE_VERBS)
    assert writes == {}, f"writes while idle: {writes}"
    assert requests_made <= READ_BOUND, f"{requests_made} requests in {WINDOW_SECONDS}s"
    assert operator.reconciles() == decided, "nothing changed, nothing was due: no reconcile"


def test_decisions_racing_another_writer_are_recorded_exactly_once(
    make_scenario: Callable[..., Scenario],
) -> None:
    """A writer changes the object every 100 ms during a whole rollout: many decisions
    are made on a version that is stale by the time they are written, and every one of
    them must be refused (409), so each step, event and history entry happens once."""
    s = make_scenario("raced")
    s.traffic("1.0.0", Traffic())
    s.traffic("2.0.0", Traffic())
    s.create("1.0.0")
    s.wait_healthy("1.0.0")
    stop, touches = threading.Event(), [0]

    def touch() -> None:
        while not stop.wait(0.1):
            touches[0] += 1
            patch = {"metadata": {"annotations": {"test.example/touch": str(touches[0])}}}
            s.custom.patch_namespaced_custom_object(
                GROUP, VERSION, s.namespace, PLURAL, s.name, patch
            )

    writer = threading.Thread(target=touch, daemon=True)
    writer.start()
    try:
        s.set_version("2.0.0")
        status = s.wait_healthy("2.0.0", timeout=180)
    finally:
        stop.set()
        writer.join()
    assert touches[0] >= 50, "the writer raced the whole rollout"
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert s.recorder is not None
    assert s.recorder.weights == [0, 20, 50, 100, 0], "no step repeated or skipped"
    s.wait_events(lambda _t, r, _m: r == "Promoted", "a Promoted event")
    reasons = Counter(r for _, r, _ in s.events())
    assert reasons["RolloutStarted"] == 1
    assert reasons["Promoted"] == 1
    steps = [m for _, r, m in s.events() if r == "StepAdvanced"]
    assert len(steps) == len(set(steps)) == 4, steps
