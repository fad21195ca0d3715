"""A hot standby: killed mid-way through 50 rollouts, the leader is replaced by a
standby whose watches kept its caches filled all along, so its first action follows
the Lease handover with nothing listed in between; every rollout ends right, once.

Each replica authenticates as its own ServiceAccount, so kube-apiserver's audit log
says which one listed and wrote what, and when (testenv.audit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client

from testenv.audit import Write, lists, requests, writes
from testenv.cluster import Cluster
from testenv.pairs import assert_each_ended_once, start_healthy, wait_all_ended
from testenv.procs import wait_until
from testenv.replicas import LEASE, Replicas, audited_replicas
from testenv.rollouts import Scenario

MODELS = 50
CHANGED_AFTER_THE_KILL = 10  # their rollouts are the successor's to start


@pytest.fixture
def audited(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    session_operator_stopped: None,
    tmp_path: Path,
) -> Iterator[tuple[Replicas, list[str]]]:
    with audited_replicas(api, cluster, namespace, tmp_path) as replicas:  # default timings
        yield replicas


def in_progress(s: Scenario) -> bool:
    status = s.status()
    return bool(status.get("canary")) and status.get("phase") not in ("Healthy", "RolledBack")


@pytest.mark.timeout(900)
def test_the_standby_acts_right_after_the_lease_handover_with_its_caches_warm(
    cluster: Cluster,
    make_scenario: Callable[..., Scenario],
    audited: tuple[Replicas, list[str]],
) -> None:
    replicas, users = audited
    assert cluster.audit_log is not None
    with ThreadPoolExecutor(10) as pool:  # each waits for Prometheus to scrape its exporter
        scenarios = list(pool.map(make_scenario, [f"warm-{i}" for i in range(MODELS)]))
    bad = start_healthy(scenarios)
    early, late = scenarios[:-CHANGED_AFTER_THE_KILL], scenarios[-CHANGED_AFTER_THE_KILL:]
    for s in early:
        s.set_version("2.0.0")
    wait_until(
        lambda: sum(in_progress(s) for s in early) >= len(early) // 2,
        timeout=120,
        what="half the rollouts under way",
        interval=0.5,
    )

    leader = replicas.wait_for_leader()
    killed_user = users[replicas.members.index(leader)]
    successor = next(u for u in users if u != killed_user)
    killed_at = datetime.now(UTC)
    looked = [
        r.verb
        for r in requests(cluster.audit_log)
        if r.user == successor and r.resource == "leases" and r.received < killed_at
    ]
    replicas.kill(leader)
    for s in late:  # the dead leader never saw these: the successor starts them
        s.set_version("2.0.0")
    print(f"at the kill: {sum(in_progress(s) for s in early)} of {len(early)} mid-rollout")

    wait_all_ended(scenarios, bad, timeout=300)
    assert_each_ended_once(scenarios, bad)

    found = writes(cluster.audit_log, killed_at)
    taken = first(
        w
        for w in found
        if w.resource == "leases" and w.name == LEASE and w.user == successor and w.holder
    )
    acted = first(
        w for w in found if w.user == successor and w.resource != "leases" and w.code < 300
    )
    # The Lease's own watch lists it again every few minutes; the caches are what counts.
    listed = [
        w
        for w in lists(cluster.audit_log, taken.received)
        if w.user == successor and w.resource != "leases"
    ]
    listed_before_acting = [w for w in listed if w.received <= acted.received]
    handover = (taken.received - killed_at).total_seconds()
    first_action = (acted.received - killed_at).total_seconds()
    print(
        f"SIGKILL -> Lease taken by the standby: {handover:.2f}s; -> its first action "
        f"({acted.verb} {acted.resource} {acted.namespace}/{acted.name}): {first_action:.2f}s"
    )
    assert acted.received >= taken.received, "nothing written before the Lease was taken"
    assert listed_before_acting == [], "caches warm: nothing listed between the handover " + (
        "and the first action: " + ", ".join(f"{w.resource}" for w in listed_before_acting)
    )
    restarted = [w for w in lists(cluster.audit_log, killed_at) if w.user == killed_user]
    assert restarted, "the audit log records lists: the killed replica's, restarted cold"
    # The standby watched the Lease while the leader lived (listed it, then watched),
    # instead of reading it each second: at most a look or two before its watch was open.
    assert "list" in looked, looked
    assert looked.count("get") <= 2, f"the standby read the Lease {looked.count('get')} times"


def first(found: Iterator[Write]) -> Write:
    for write in found:
        return write
    raise AssertionError("not in the audit log")
