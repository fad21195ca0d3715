"""Two operator replicas on a real control plane: one leads through a Lease, the other
takes over when it dies, and nothing a rollout records is ever done twice."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from testenv.cluster import Cluster
from testenv.pairs import GOOD, assert_each_ended_once, roll_out_in_pairs, start_healthy
from testenv.procs import wait_until
from testenv.replicas import FAST_LEASE, Replicas
from testenv.rollouts import Scenario

ROLLOUTS = 10


@pytest.fixture
def replicas_factory(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    session_operator_stopped: None,
    tmp_path: Path,
) -> Iterator[Callable[..., Replicas]]:
    made: list[Replicas] = []

    def make(lease_args: tuple[str, ...] = ()) -> Replicas:
        replicas = Replicas(api, cluster.kubeconfig, tmp_path, namespace, lease_args=lease_args)
        made.append(replicas)
        replicas.start()
        return replicas

    yield make
    for replicas in made:
        replicas.stop()


def hold_pods_at(api: client.ApiClient, namespace: str, pods: int) -> None:
    """A pod quota: the ReplicaSet controller cannot create more than `pods` pods."""
    core = client.CoreV1Api(api)
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="pods"),
        spec=client.V1ResourceQuotaSpec(hard={"pods": str(pods)}),
    )
    core.create_namespaced_resource_quota(namespace, quota)
    # Admission refuses every pod until the quota controller has computed its usage.
    wait_until(
        lambda: bool(core.read_namespaced_resource_quota("pods", namespace).status.hard),
        timeout=30,
        what="the pod quota in force",
    )


def release_pods(api: client.ApiClient, namespace: str, revision: str) -> None:
    client.CoreV1Api(api).delete_namespaced_resource_quota("pods", namespace)
    # The ReplicaSet controller backs off (up to minutes) after refusals; an update to
    # the ReplicaSet brings it back at once, as it would after any change to it.
    apps = client.AppsV1Api(api)
    for rs in apps.list_namespaced_replica_set(
        namespace, label_selector=f"modelrollout.io/revision={revision}"
    ).items:
        patch = {"metadata": {"annotations": {"test.example/quota": "raised"}}}
        apps.patch_namespaced_replica_set(rs.metadata.name, namespace, patch)


def test_the_standby_finishes_a_promotion_the_killed_leader_began(
    api: client.ApiClient,
    namespace: str,
    make_scenario: Callable[..., Scenario],
    replicas_factory: Callable[..., Replicas],
) -> None:
    replicas = replicas_factory()  # the defaults a cluster runs with
    first = replicas.wait_for_leader()
    assert first.process is not None
    # 2 stable pods and 1 canary pod fit; the promotion's full-size canary does not.
    hold_pods_at(api, namespace, 3)
    s = make_scenario("fraud")
    s.traffic("1.0.0", GOOD)
    s.traffic("2.0.0", GOOD)
    s.create("1.0.0")
    s.wait_healthy("1.0.0")
    s.set_version("2.0.0")
    held = s.wait_status(lambda st: st.get("promotionStage") == "ScaleUp", "promotion begun")
    canary = held["canary"]["revision"]

    leader = replicas.wait_for_leader()
    assert leader.process is not None
    killed_at = time.monotonic()
    killed = replicas.kill(leader)
    successor = replicas.wait_for_leader(timeout=60, besides=killed)
    print(f"failover: a new leader {time.monotonic() - killed_at:.1f}s after SIGKILL")
    assert s.status().get("promotionStage") == "ScaleUp", "the promotion was mid-way"
    release_pods(api, namespace, canary)

    status = s.wait_healthy("2.0.0", timeout=120)
    assert successor is replicas.leader(), "the successor finished it"
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert s.recorder is not None
    assert s.recorder.weights == [0, 20, 50, 100, 0], "no step repeated or skipped"
    s.wait_events(lambda _t, r, _m: r == "Promoted", "a Promoted event")
    assert Counter(r for _, r, _ in s.events())["Promoted"] == 1


def test_rollouts_end_right_and_once_while_the_leader_is_killed_every_few_seconds(
    make_scenario: Callable[..., Scenario],
    replicas_factory: Callable[..., Replicas],
) -> None:
    replicas = replicas_factory(FAST_LEASE)
    scenarios = [make_scenario(f"chaos-{i}") for i in range(ROLLOUTS)]
    bad = start_healthy(scenarios)

    chaos_random = random.Random(14)

    def chaos(stop: threading.Event) -> None:
        while not stop.is_set():
            leader = replicas.wait_for_leader(timeout=60)
            if stop.wait(chaos_random.uniform(2, 7)):
                return
            replicas.kill(leader)

    # In rounds of a good and a bad one, so leaders die all along the rollouts.
    roll_out_in_pairs(scenarios, bad, timeout=180, meanwhile=chaos)
    print(f"leaders killed during the rollouts: {replicas.kills}")
    assert replicas.kills >= 3, "the rollouts saw leaders die"
    assert_each_ended_once(scenarios, bad)


def test_sigterm_finishes_cleanly_and_hands_the_lease_over(
    make_scenario: Callable[..., Scenario],
    replicas_factory: Callable[..., Replicas],
) -> None:
    replicas = replicas_factory()
    scenarios = [make_scenario(f"calm-{i}") for i in range(3)]
    for s in scenarios:
        s.traffic("1.0.0", GOOD)
        s.create("1.0.0")
    for s in scenarios:
        s.wait_healthy("1.0.0")
    leader = replicas.wait_for_leader()
    assert leader.process is not None
    assert leader.process.popen is not None
    pid, before = leader.process.pid, leader.logs()

    seconds = replicas.stopped_in(leader, timeout=60)
    print(f"SIGTERM -> exit: {seconds:.1f}s")
    assert leader.process.popen.returncode == 0
    said = leader.logs()[len(before) :]
    for bad in ("orphaned", "Unclosed", "Traceback", "did not exit in time"):
        assert bad not in said, said[-3000:]
    assert "released" in said
    # Handed back, not left to run out: nobody, or already the standby, holds it.
    assert replicas.holder_pid() != pid
    replicas.wait_for_leader(besides=pid)
