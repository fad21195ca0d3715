"""A leader frozen (SIGSTOP to its process group) for longer than its Lease, as a
throttled CPU or a stopped VM would, and resumed once its successor has acted: it
never writes again, except a write already past the fence when the freeze began (or
delayed in flight on a loaded machine), which may arrive late. Only a guarded write
may do that: the status (its resourceVersion) or a route patch (its test of the rules
as read), which the API server refuses if the object changed since the decision.

Each replica authenticates as its own ServiceAccount, so kube-apiserver's audit log
says who wrote what and when, and who held the Lease at that moment (testenv.audit)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client

from testenv.audit import Write, writes
from testenv.cluster import Cluster
from testenv.pairs import assert_each_ended_once, roll_out_in_pairs, start_healthy
from testenv.procs import wait_until
from testenv.replicas import FAST_LEASE, LEASE, Replicas, audited_replicas
from testenv.rollouts import Scenario

ROLLOUTS = 10


@pytest.fixture
def audited(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    session_operator_stopped: None,
    tmp_path: Path,
) -> Iterator[tuple[Replicas, list[str]]]:
    with audited_replicas(api, cluster, namespace, tmp_path, FAST_LEASE) as replicas:
        yield replicas


def holder_at(lease_writes: list[Write], when: datetime) -> str | None:
    """Who held the Lease when a request arrived: the writer of the last successful
    Lease write before it that left a holder (a release leaves none)."""
    holder = None
    for w in lease_writes:
        if w.received >= when:
            break
        holder = w.user if w.holder else None
    return holder


def test_a_frozen_leader_never_writes_after_a_successor_took_its_lease(
    cluster: Cluster,
    namespace: str,
    make_scenario: Callable[..., Scenario],
    audited: tuple[Replicas, list[str]],
) -> None:
    replicas, users = audited
    assert cluster.audit_log is not None
    started = datetime.now(UTC)
    scenarios = [make_scenario(f"frozen-{i}") for i in range(ROLLOUTS)]
    bad = start_healthy(scenarios)

    freezes = Counter[str]()
    chaos_random = random.Random(22)

    def successor_acted(frozen_user: str, since: datetime) -> bool:
        found = writes(cluster.audit_log, since) if cluster.audit_log else []
        return any(w.user != frozen_user and w.resource != "leases" and w.code < 300 for w in found)

    def freeze(stop: threading.Event) -> None:
        while not stop.is_set():
            leader = replicas.wait_for_leader(timeout=60)
            if stop.wait(chaos_random.uniform(1.5, 4)):
                return
            assert leader.process is not None
            pid = leader.process.pid
            frozen_user = users[replicas.members.index(leader)]
            frozen_at = datetime.now(UTC)
            # The whole process group, the election process too: a stopped VM or a
            # throttled container stops both (a pause of the operator's Python alone is
            # test_busy_leader's).
            os.killpg(pid, signal.SIGSTOP)
            try:
                wait_until(
                    lambda pid=pid: replicas.holder_pid() not in (pid, None),
                    timeout=30,
                    what="the standby to take the Lease of the frozen leader",
                )
                with contextlib.suppress(TimeoutError):  # no rollout may need a write
                    wait_until(
                        lambda u=frozen_user, t=frozen_at: successor_acted(u, t),
                        timeout=15,
                        what="the successor to write",
                        interval=0.5,  # each look reads the whole audit log
                    )
                    freezes["resumed after the successor wrote"] += 1
                freezes["frozen past the Lease"] += 1
            finally:
                os.killpg(pid, signal.SIGCONT)
            # Resumed, it finds out it lost the Lease and exits, as a leader that
            # cannot renew does; the supervisor starts it again as the standby.
            popen = leader.process.popen
            assert popen is not None
            popen.wait(timeout=30)
            replicas.restart_exited()

    roll_out_in_pairs(scenarios, bad, timeout=240, meanwhile=freeze)
    print(f"freezes: {dict(freezes)}")
    assert freezes["resumed after the successor wrote"] >= 3, "the rollouts saw frozen leaders"

    found = writes(cluster.audit_log, started)
    lease = [w for w in found if w.resource == "leases" and w.name == LEASE and 200 <= w.code < 300]
    ours = [w for w in found if w.user in users and w.resource != "leases"]
    late = [w for w in ours if holder_at(lease, w.received) != w.user]
    guarded = ("modeldeployments/status", "httproutes")
    unguarded = [w for w in late if w.resource not in guarded]
    refused = [w for w in late if w.resource in guarded and w.code >= 300]
    print(
        f"writes by the replicas: {len(ours)}; Lease writes: {len(lease)}; guarded writes "
        f"that arrived after the handover: {len(late) - len(unguarded)}, refused "
        f"{len(refused)}"
    )
    assert ours, "the audit log saw the replicas' writes"
    assert unguarded == [], "\n".join(
        f"{w.received.isoformat()} {w.user} {w.verb} {w.resource} {w.namespace}/{w.name} "
        f"(holder: {holder_at(lease, w.received)})"
        for w in unguarded[:20]
    )

    assert_each_ended_once(scenarios, bad)
