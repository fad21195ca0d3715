"""Fencing: a replica writes only while it provably holds the Lease, and a write refused
by the fence stops everything after it (no ReconcileError, no second write)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3
from fake_adapters import Cluster, FakeWorkloads, adapters
from kubernetes import client

from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.handlers.caches import Wakes
from modelrollout.handlers.fencing import FencedApiClient, NotLeading, Standalone, clock
from modelrollout.handlers.leadership import Leadership
from modelrollout.handlers.loop import Runtime, Turn, _delay
from modelrollout.handlers.status_write import write_status
from modelrollout.reconcile import Result, carry_out, reconcile

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class Switch:
    def __init__(self, holds: bool) -> None:
        self.held = holds

    def holds(self) -> bool:
        return self.held


def unreachable() -> client.Configuration:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # nothing listens: a request that is sent fails
    configuration.retries = False
    return configuration


def test_a_write_is_refused_before_it_is_sent_unless_the_lease_is_held() -> None:
    fence = Switch(holds=False)
    api = FencedApiClient(unreachable(), fence)
    core = client.CoreV1Api(api)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.read_namespace("ml")  # reads are not fenced: sent (and refused by the socket)
    with pytest.raises(NotLeading, match="PATCH /api/v1/namespaces/ml: the Lease"):
        core.patch_namespace("ml", {"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(NotLeading):
        core.delete_namespace("ml")
    fence.held = True
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.patch_namespace("ml", {"metadata": {"labels": {"a": "b"}}})  # sent


def test_a_refused_status_write_is_not_a_write_error() -> None:
    """NotLeading passes through `except ApiException` and `except Exception` alike."""
    api = FencedApiClient(unreachable(), Switch(holds=False))
    body = {"metadata": {"name": "m", "namespace": "ml", "resourceVersion": "3"}, "status": {}}
    with pytest.raises(NotLeading):
        write_status(api, body, {"phase": "Healthy"})


class FencedWorkloads(FakeWorkloads):
    def apply_revision(self, spec: Any, replicas: int, observed: Any) -> None:
        self.cluster.calls.append(("apply", spec.revision(), replicas))
        raise NotLeading("PATCH /apis/apps/v1/...: the Lease is not provably held")


def test_acting_stops_at_the_first_refused_write_without_a_reconcile_error() -> None:
    cluster = Cluster()
    body = {
        "metadata": {"name": "m", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": {
            "replicas": 2,
            "model": {"version": "1"},
            "template": {"spec": {"containers": [{"name": "s", "image": "s:1"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        },
    }
    decided = reconcile(adapters(cluster), body, NOW)
    assert decided.plan is not None
    fenced = replace(decided, plan=replace(decided.plan, workloads=FencedWorkloads(cluster)))
    cluster.calls.clear()
    with pytest.raises(NotLeading):
        carry_out(fenced, NOW)
    assert [call[0] for call in cluster.calls] == ["apply"], "nothing after the refused write"


def test_a_fenced_turn_is_tried_again_within_a_second() -> None:
    rt = Runtime(
        client.ApiClient(), ThreadPoolExecutor(1), Wakes(), routes_served=frozenset({"httproutes"})
    )
    status = ModelDeploymentStatus()
    turn = Turn(Result(status, status, []), written=False, fenced=True)
    assert _delay(rt, turn, failures=0) == 1.0
    assert not turn.failed, "not a failure: nothing is counted, backed off or said"


def held_lease() -> Leadership:
    lead = Leadership("ops", "modelrollout", "me")  # its election process not started
    lead.state.leading = True  # as the election process says
    return lead


def test_the_lease_is_held_only_within_the_renew_deadline_of_the_last_renewal() -> None:
    lead = held_lease()  # 4 s Lease, 3 s renew deadline
    assert not lead.holds(), "never renewed"
    lead.state.renewed_at = clock() - 1
    assert lead.holds()
    lead.state.renewed_at = clock() - 3.5  # frozen past the deadline: a successor may act
    assert not lead.holds()
    lead.state.renewed_at = clock()
    lead.state.leading = False
    assert not lead.holds(), "lost: the election process says so before it exits"
    lead.state.leading = True
    lead.state.released = True
    assert not lead.holds(), "handed back"
    assert Standalone().holds()


def test_the_loops_are_told_once_when_the_standby_leads() -> None:
    lead = Leadership("ops", "modelrollout", "me")
    told: list[str] = []
    lead.when_leading(lambda: told.append("before"))
    assert told == [], "a standby does not lead"
    lead._started_leading()
    assert told == ["before"]
    lead.when_leading(lambda: told.append("after"))
    assert told == ["before", "after"], "already leading: at once"
    standalone: list[str] = []
    Standalone().when_leading(lambda: standalone.append("now"))
    assert standalone == ["now"]
