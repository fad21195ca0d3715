"""A busy leader keeps its Lease; a stuck one gives it up (handlers.election_process).

The election runs in a process of its own, so a pause of the operator's Python (a full
garbage collection of a large heap, a huge list parsed in one call: seconds during
which no other thread of the process runs) no longer delays the renewals, and the
fence, which reads the last renewal from shared memory, stays closed only as long as
the Lease is really unrenewed. An operator whose event loop stops turning for good is
stuck, not busy: its election process lets the Lease run out and a standby takes it.
Run against the real control plane, as the operator's own Leadership."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from kubernetes import client

from modelrollout.handlers.election import LeaseTiming
from modelrollout.handlers.leadership import Leadership
from testenv.cluster import Cluster
from testenv.procs import wait_until

PAUSE_S = 4.0  # longer than the 3 s renew deadline: a renewal in this process would lapse
# A C call through PyDLL keeps the interpreter lock for its whole duration: every
# thread of this process stops, as in a garbage collection.
_HOLD_THE_INTERPRETER = ctypes.PyDLL(None).usleep


class Operator:
    """A Leadership as handlers.main runs it: its event loop beats every second."""

    def __init__(self, namespace: str, identity: str, timing: LeaseTiming) -> None:
        self.lost = threading.Event()
        self.lead = Leadership(namespace, "busy", identity, timing, on_lost=self._lost)
        self.beating = threading.Event()
        self.beating.set()

    def _lost(self, why: str) -> None:
        self.lost.set()

    def start(self) -> Operator:
        self.lead.start()

        def beat() -> None:
            while self.beating.is_set() and not self.lost.wait(1.0):
                self.lead.alive()

        threading.Thread(target=beat, daemon=True).start()
        return self

    def stop(self) -> None:
        self.beating.clear()
        if not self.lost.is_set():
            self.lead.release()


@pytest.fixture
def operators(
    cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Operator]]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))  # the election process's
    started: list[Operator] = []
    yield started
    for operator in started:
        operator.stop()


def renewed(api: client.ApiClient, namespace: str) -> datetime:
    lease = client.CoordinationV1Api(api).read_namespaced_lease("busy", namespace)
    return lease.spec.renew_time  # type: ignore[no-any-return]


def test_a_leader_whose_python_pauses_longer_than_the_renew_deadline_keeps_its_lease(
    api: client.ApiClient, namespace: str, operators: list[Operator]
) -> None:
    leader = Operator(namespace, "leader", LeaseTiming()).start()
    operators.append(leader)
    wait_until(leader.lead.holds, timeout=30, what="the election to take the free Lease")
    for _ in range(3):
        paused_at = datetime.now(UTC)
        _HOLD_THE_INTERPRETER(int(PAUSE_S * 1_000_000))
        held = leader.lead.holds()  # the first thing after the pause, as a write would
        assert held, "the fence held through the pause: renewals went on meanwhile"
        assert renewed(api, namespace) > paused_at, "renewed during the pause"
    assert not leader.lost.is_set()


def test_a_leader_whose_event_loop_stops_gives_the_lease_up_to_the_standby(
    namespace: str, operators: list[Operator]
) -> None:
    timing = LeaseTiming(stall_seconds=6)
    leader = Operator(namespace, "leader", timing).start()
    operators.append(leader)
    wait_until(leader.lead.holds, timeout=30, what="the election to take the free Lease")
    standby = Operator(namespace, "standby", timing).start()
    operators.append(standby)
    leader.beating.clear()  # stuck from now on
    wait_until(standby.lead.holds, timeout=60, what="the standby to take the Lease")
    assert leader.lost.wait(30), "the stuck leader is told, so it exits"
    assert not leader.lead.holds(), "its fence is closed"
    assert not standby.lost.is_set()
