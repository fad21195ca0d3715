"""A limit of rollouts at once, on the real control plane with two operator replicas:
five ModelDeployments change version, two roll out, three wait in line (Pending,
Queued) in the order they arrived; each starts when a slot frees, and the order holds
when the leader is killed, since the line lives in the statuses, not in memory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.replicas import FAST_LEASE, Replicas
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario
from testenv.watching import follow

LIMIT = 2
HELD = {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}], "scaleDownDelay": "2s"}}


class Holders:
    """The most ModelDeployments ever seen holding a slot at once, through a watch."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.holding: dict[str, bool] = {}
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        follow(
            self._stop,
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            on_event=self._see,
        )

    def _see(self, _kind: str, md: dict[str, Any]) -> None:
        status = md.get("status") or {}
        self.holding[md["metadata"]["name"]] = bool(status.get("canary") or status.get("returning"))
        self.most = max(self.most, sum(self.holding.values()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def replicas(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    session_operator_stopped: None,
    tmp_path: Path,
) -> Iterator[Replicas]:
    made = Replicas(
        api,
        cluster.kubeconfig,
        tmp_path,
        namespace,
        # This namespace only: the limit is overall, and ModelDeployments of earlier
        # tests may still hold slots while their namespaces are being deleted.
        lease_args=(*FAST_LEASE, f"--max-rollouts={LIMIT}", f"--namespace={namespace}"),
    )
    made.start()
    yield made
    made.stop()


def promote(s: Scenario) -> None:
    s.request("promote-full")


def queue_of(s: Scenario) -> dict[str, Any] | None:
    found = s.status().get("queue")
    return dict(found) if found else None


def rolling(s: Scenario) -> bool:
    return bool((s.status().get("canary") or {}).get("version") == "2.0.0")


@pytest.mark.timeout(600)
def test_two_at_once_the_rest_in_line_across_a_failover(
    api: client.ApiClient,
    namespace: str,
    make_scenario: Callable[..., Scenario],
    replicas: Replicas,
) -> None:
    replicas.wait_for_leader()
    models = [make_scenario(f"queued-{i}") for i in range(5)]
    for s in models:
        s.traffic("1.0.0", Traffic())
        s.traffic("2.0.0", Traffic())
        s.create("1.0.0", strategy=HELD)
    for s in models:
        s.wait_healthy("1.0.0")
    holders = Holders(api, namespace)
    try:
        for s in models:  # one after the other: the order they arrive in
            s.set_version("2.0.0")
            s.wait_status(
                lambda st: (
                    (st.get("canary") or {}).get("version") == "2.0.0" or bool(st.get("queue"))
                ),
                f"{s.name} rolling out or queued",
            )
        first, second, *waiting = models
        assert rolling(first)
        assert rolling(second)
        holding = {f"{namespace}/queued-0", f"{namespace}/queued-1"}
        for place, s in enumerate(waiting, start=1):
            # Each says its place once its loop has seen those ahead (within a second).
            status = s.wait_status(
                lambda st, place=place: (
                    (st.get("queue") or {}).get("position") == place
                    and set(st["queue"].get("heldBy", [])) == holding
                ),
                f"{s.name} #{place} in line, behind {holding}",
                timeout=30,
            )
            assert status["phase"] == "Pending"
            assert "queued: #" in status["message"]
        s3, s4, s5 = waiting
        assert s3.wait_events(lambda _t, r, _m: r == "Queued", "a Queued event")

        # A slot frees: the first in line starts, the others move up.
        promote(first)
        s3.wait_status(lambda st: (st.get("canary") or {}).get("version") == "2.0.0", "s3 starts")
        s4.wait_status(lambda st: (st.get("queue") or {}).get("position") == 1, "s4 first")
        assert queue_of(s5) is not None

        # The leader dies with two in line: its successor keeps their order.
        leader = replicas.wait_for_leader()
        killed = replicas.kill(leader)
        replicas.wait_for_leader(besides=killed)
        promote(second)
        s4.wait_status(lambda st: (st.get("canary") or {}).get("version") == "2.0.0", "s4 starts")
        assert queue_of(s5) is not None, "s5 waits: s4 was ahead of it"
        s5.wait_status(lambda st: (st.get("queue") or {}).get("position") == 1, "s5 first")
        promote(s3)
        s5.wait_status(lambda st: (st.get("canary") or {}).get("version") == "2.0.0", "s5 starts")
        for s in (s4, s5):
            promote(s)
        for s in models:
            s.wait_healthy("2.0.0", timeout=120)
    finally:
        holders.stop()
    assert holders.most == LIMIT, f"at most {LIMIT} rollouts at once, saw {holders.most}"
