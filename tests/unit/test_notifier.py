"""Notifications: which status changes make one, the documented bodies, and delivery from
a thread of its own with bounded retries, never holding the caller."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from modelrollout.api.status import (
    HistoryEntry,
    ModelDeploymentStatus,
    QueueStatus,
    RevisionStatus,
)
from modelrollout.api.vocabulary import Phase
from modelrollout.engine.notices import Notice, notices
from modelrollout.handlers.notifier import Notifier, Receiver, body
from modelrollout.metrics.endpoints import EndpointPolicy
from testenv.procs import wait_until
from testenv.webhook import WebhookReceiver

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STABLE = RevisionStatus(version="1.0.0", revision="a", weight=100)
CANARY = RevisionStatus(version="2.0.0", revision="b", weight=10)
LOOPBACK = EndpointPolicy.parse(["127.0.0.0/8"])


def status(**fields: object) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate({"stable": STABLE.wire(), **fields})


def kinds(before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> list[str]:
    return [n.kind for n in notices("ml", "fraud", "2.0.0", before, after, NOW)]


def entry(outcome: str) -> HistoryEntry:
    return HistoryEntry(
        version="2.0.0",
        revision="b",
        outcome=outcome,
        reason="judge: errors worse",
        from_version="1.0.0",
        from_revision="a",
        finished_at=NOW,
    )


def test_each_change_worth_telling_makes_one_notice() -> None:
    idle = status()
    started = status(canary=CANARY.wire(), rolloutStartedAt=NOW.isoformat(), message="rolling")
    assert kinds(idle, started) == ["RolloutStarted"]
    assert kinds(started, started) == [], "nothing changed: nothing to tell"
    paused = started.model_copy(update={"pause_reason": "PauseStep", "phase": Phase.PAUSED})
    assert kinds(started, paused) == ["Paused"]
    analysis_pause = started.model_copy(update={"pause_reason": "AnalysisInconclusive"})
    assert kinds(started, analysis_pause) == [], "it lifts by itself: nobody is needed"
    queued = status(queue=QueueStatus(since=NOW, position=2).wire(), phase="Pending")
    assert kinds(idle, queued) == ["Queued"]
    assert kinds(queued, queued) == []
    promoted = status(history=[entry("Promoted").wire()])
    assert kinds(started, promoted) == ["Promoted"]
    rolled = status(history=[entry("RolledBack").wire()], rollbackReason="CanaryWorse")
    (notice,) = notices("ml", "fraud", "2.0.0", started, rolled, NOW)
    assert (notice.kind, notice.reason, notice.version, notice.from_version) == (
        "RolledBack",
        "CanaryWorse",
        "2.0.0",
        "1.0.0",
    )
    assert kinds(rolled, rolled) == [], "a history entry is told once"
    superseded = status(history=[entry("Superseded").wire()])
    assert kinds(started, superseded) == []


def test_the_same_change_has_the_same_id_whoever_tells_it() -> None:
    a = notices("ml", "fraud", "2.0.0", status(), status(history=[entry("Promoted").wire()]), NOW)
    b = notices(
        "ml",
        "fraud",
        "2.0.0",
        status(),
        status(history=[entry("Promoted").wire()]),
        NOW + timedelta(1),
    )
    assert a[0].id == b[0].id


NOTICE = Notice("RolledBack", "ml", "fraud", "2.0.0", "1.0.0", "CanaryWorse", "worse", NOW)


def test_the_documented_bodies() -> None:
    assert body(NOTICE, "json") == {
        "id": NOTICE.id,
        "kind": "RolledBack",
        "namespace": "ml",
        "name": "fraud",
        "version": "2.0.0",
        "fromVersion": "1.0.0",
        "reason": "CanaryWorse",
        "message": "worse",
        "at": "2026-12-05T12:00:00Z",
    }
    assert body(NOTICE, "slack") == {"text": "ml/fraud: RolledBack 2.0.0 (CanaryWorse): worse"}


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver()


def test_delivered_once_with_an_idempotency_key(receiver: WebhookReceiver) -> None:
    sender = Notifier(lambda _: Receiver(receiver.url, "json"), LOOPBACK, delays=(0.05,))
    sender.notify([NOTICE])
    wait_until(lambda: len(receiver.received) == 1, timeout=10, what="one delivery")
    assert receiver.received[0].headers["Idempotency-Key"] == NOTICE.id
    assert receiver.bodies() == [body(NOTICE, "json")]
    time.sleep(0.3)  # a second delivery would have come by now (retries wait 0.05 s)
    assert len(receiver.received) == 1
    sender.stop()


def test_a_failing_receiver_is_tried_again_within_bounds(caplog: pytest.LogCaptureFixture) -> None:
    flaky = WebhookReceiver(answers=[503, 500])
    sender = Notifier(lambda _: Receiver(flaky.url, "slack"), LOOPBACK, delays=(0.05, 0.05, 0.05))
    with caplog.at_level(logging.INFO, logger="modelrollout"):
        sender.notify([NOTICE])
        wait_until(lambda: len(flaky.received) == 3, timeout=10, what="two failures, then 200")
    assert [r.answered for r in flaky.received] == [503, 500, 200]
    down = WebhookReceiver(answers=[500] * 10)
    sender = Notifier(lambda _: Receiver(down.url, "json"), LOOPBACK, delays=(0.05, 0.05))
    with caplog.at_level(logging.INFO, logger="modelrollout"):
        sender.notify([NOTICE])
        wait_until(lambda: "dropped" in caplog.text, timeout=10, what="given up")
    assert len(down.received) == 3, "the first try and two retries, no more"
    assert down.url not in caplog.text, "a URL is a secret"
    assert flaky.url not in caplog.text


def test_a_refusal_is_final_and_a_forbidden_address_is_never_reached(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = WebhookReceiver(answers=[400])
    sender = Notifier(lambda _: Receiver(refusing.url, "json"), LOOPBACK, delays=(0.05,))
    with caplog.at_level(logging.INFO, logger="modelrollout"):
        sender.notify([NOTICE])
        wait_until(lambda: "dropped" in caplog.text, timeout=10, what="dropped")
    assert len(refusing.received) == 1
    closed = Notifier(lambda _: Receiver(receiver.url, "json"), EndpointPolicy.parse([]), delays=())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="modelrollout"):
        closed.notify([NOTICE])
        wait_until(lambda: "dropped" in caplog.text, timeout=10, what="refused")
    assert receiver.received == [], "loopback is not on the default allow-list"


def test_a_stuck_receiver_never_holds_the_caller() -> None:
    stuck = WebhookReceiver(hang=2.0)
    sender = Notifier(lambda _: Receiver(stuck.url, "json"), LOOPBACK, delays=())
    started = time.monotonic()
    for _ in range(50):
        sender.notify([NOTICE])
    returned = time.monotonic() - started
    wait_until(lambda: len(stuck.received) >= 1, timeout=10, what="the first delivery")
    assert returned < 1.0, "notify waited for a delivery"  # 50 deliveries would take 100 s
    sender.stop(wait=10)  # the delivery in flight ends (and is counted) before the next test
    assert not any(t.is_alive() for t in sender._threads), "stopped within the wait"


def test_no_receiver_sends_nothing() -> None:
    """A namespace without a receiver: its notice is looked up, then neither sent nor
    counted as dropped (there was nowhere to send it)."""

    def sample(outcome: str) -> float:
        value = REGISTRY.get_sample_value("modelrollout_notifications_total", {"outcome": outcome})
        return value or 0.0

    before = {outcome: sample(outcome) for outcome in ("sent", "retried", "dropped")}
    asked: list[str] = []

    def nowhere(namespace: str) -> Receiver | None:
        asked.append(namespace)
        return None

    sender = Notifier(nowhere, LOOPBACK, delays=(0.05,))
    sender.notify([NOTICE])
    wait_until(lambda: asked == ["ml"], timeout=10, what="the receiver looked up")
    sender.stop()
    assert {outcome: sample(outcome) for outcome in before} == before


def test_a_hanging_receiver_holds_up_only_its_own_namespace() -> None:
    stuck, fine = WebhookReceiver(hang=3.0), WebhookReceiver()
    urls = {"stuck": stuck.url, "fine": fine.url}
    sender = Notifier(lambda ns: Receiver(urls[ns], "json"), LOOPBACK, delays=())
    theirs = [Notice("Promoted", "stuck", f"m{i}", "2", "1", "Promoted", "", NOW) for i in range(8)]
    sender.notify(theirs)
    sender.notify([Notice("Promoted", "fine", "m", "2", "1", "Promoted", "", NOW)])
    wait_until(lambda: len(fine.received) == 1, timeout=2, what="the other namespace's notice")
    assert stuck.arrivals == 1, "one delivery in flight per namespace"
    sender.stop(wait=10)  # the delivery in flight ends (and is counted) before the next test
