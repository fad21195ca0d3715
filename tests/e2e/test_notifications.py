"""Rollout notifications on the real control plane: a team's webhook (a Secret in its
namespace) gets each notification once, with the documented body; a receiver that is
down (503) does not hold the rollout up, and is tried again a bounded number of times
(a receiver that hangs is the unit tests': tests/unit/test_notifier.py). The figures
go to .cache/e2e/notifications.json."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes import client

from modelrollout.handlers.notifier import RETRY_DELAYS
from testenv import settings
from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.rollouts import Scenario
from testenv.webhook import WebhookReceiver

SECRET = "modelrollout-notifications"
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
RESULTS = settings.CACHE_DIR / "e2e" / "notifications.json"
KEYS = {"id", "kind", "namespace", "name", "version", "fromVersion", "reason", "message", "at"}


@pytest.fixture
def notifying_operator(
    cluster: Cluster, session_operator_stopped: None, tmp_path: Path
) -> Iterator[OperatorProcess]:
    operator = OperatorProcess(cluster.kubeconfig, tmp_path, [f"--notifications-secret={SECRET}"])
    operator.start()
    yield operator
    operator.stop()


def point_at(s: Scenario, url: str) -> None:
    data = {"url": base64.b64encode(url.encode()).decode()}
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name=SECRET), data=data)
    try:
        s.core.create_namespaced_secret(s.namespace, secret)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        s.core.replace_namespaced_secret(SECRET, s.namespace, secret)


def seconds(entry: dict[str, str]) -> float:
    started, finished = (datetime.fromisoformat(entry[k]) for k in ("startedAt", "finishedAt"))
    return (finished - started).total_seconds()


@pytest.mark.timeout(600)
def test_each_notification_once_and_a_receiver_that_is_down_holds_nothing_up(
    make_scenario: Callable[..., Scenario], notifying_operator: OperatorProcess
) -> None:
    receiver = WebhookReceiver()
    s = make_scenario("told")
    point_at(s, receiver.url)
    s.traffic("1.0.0", GOOD)
    s.create("1.0.0")
    s.wait_healthy("1.0.0")

    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    s.wait_healthy("2.0.0")
    s.traffic("3.0.0", BAD)
    s.set_version("3.0.0")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "rolled back")
    expected = [
        ("RolloutStarted", "2.0.0"),
        ("Promoted", "2.0.0"),
        ("RolloutStarted", "3.0.0"),
        ("RolledBack", "3.0.0"),
    ]
    wait_until(lambda: len(receiver.bodies()) >= 4, timeout=30, what="four notifications")
    time.sleep(2)  # a duplicate would arrive by now: nothing retries a delivered one
    bodies = receiver.bodies()
    assert [(b["kind"], b["version"]) for b in bodies] == expected
    assert all(set(b) == KEYS for b in bodies)
    assert all((b["namespace"], b["name"]) == (s.namespace, "told") for b in bodies)
    assert len({b["id"] for b in bodies}) == 4
    assert bodies[1]["fromVersion"] == "1.0.0"
    assert bodies[3]["reason"] in ("AnalysisFailed", "CanaryWorse")
    history = s.status()["history"]
    with_receiver = seconds(next(h for h in history if h["version"] == "2.0.0"))
    receiver.stop()

    # A receiver that is down: every attempt is answered 503.
    down = WebhookReceiver(answers=[503] * 50)
    point_at(s, down.url)
    notifying_operator.stop()  # a new process reads the Secret afresh (else within 30 s)
    notifying_operator.start()
    s.traffic("4.0.0", GOOD)
    s.set_version("4.0.0")
    s.wait_healthy("4.0.0")
    promoted_at = time.time()
    history = s.status()["history"]
    with_down = seconds(next(h for h in history if h["version"] == "4.0.0"))
    attempts = 1 + len(RETRY_DELAYS)
    wait_until(
        lambda: Counter(r.body["kind"] for r in down.received)["RolloutStarted"] >= attempts,
        timeout=180,
        what=f"{attempts} attempts at the RolloutStarted notice",
    )
    started = [r for r in down.received if r.body["kind"] == "RolloutStarted"]
    assert promoted_at < started[-1].at, "the rollout waited for the receiver"
    time.sleep(RETRY_DELAYS[-1] + 1)
    started = [r for r in down.received if r.body["kind"] == "RolloutStarted"]
    assert len(started) == attempts, "tried again a bounded number of times"
    down.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "rollout_seconds_receiver_up": round(with_receiver, 2),
        "rollout_seconds_receiver_down": round(with_down, 2),
        "attempts_per_notice": attempts,
        "attempt_spacing_seconds": [round(b.at - a.at, 1) for a, b in itertools.pairwise(started)],
    }
    RESULTS.write_text(json.dumps(figures, indent=2))
