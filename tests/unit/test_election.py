"""The election's requests (handlers.election): a standby looks at the Lease through its
watch and sleeps until the Lease runs out; a leader renews on the Lease it wrote, every
renew interval, and gives up a whole Lease after its last renewal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from kubernetes import client
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from modelrollout.handlers import election, lease_watch
from modelrollout.handlers.election import Election, LeaseTiming, Lock
from modelrollout.handlers.lease_watch import LeaseWatch


def unreachable() -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # nothing listens: a request that is sent fails
    configuration.retries = False
    return client.ApiClient(configuration)


def lease(holder: str | None, resource_version: str) -> client.V1Lease:
    now = datetime.now(UTC)
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name="modelrollout", resource_version=resource_version),
        spec=client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=4, acquire_time=now, renew_time=now
        ),
    )


def record(holder: str) -> LeaderElectionRecord:
    now = str(datetime.now())  # the election library's own format: local, naive
    return LeaderElectionRecord(holder, "4", now, now)


class Answers:
    """CoordinationV1Api's Lease calls, answered from a list (an ApiException raised)."""

    def __init__(self, *answers: client.V1Lease | client.ApiException) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def _next(self, call: str) -> client.V1Lease:
        self.calls.append(call)
        answer = self.answers.pop(0)
        if isinstance(answer, client.ApiException):
            raise answer
        return answer

    def read_namespaced_lease(self, name: str, namespace: str) -> client.V1Lease:
        return self._next("GET")

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: client.V1Lease
    ) -> client.V1Lease:
        assert body.spec.holder_identity == "me"
        return self._next(f"PUT@{body.metadata.resource_version}")


class Watched:
    """A LeaseWatch's face: the Lease it last saw (None: no watch open), and the waits
    asked of it."""

    def __init__(self, seen: client.V1Lease | None = None, is_open: bool = True) -> None:
        self.seen, self.open, self.changes = seen, is_open, 0
        self.waits: list[float] = []

    def latest(self) -> client.V1Lease | None:
        return self.seen if self.open else None

    def is_open(self) -> bool:
        return self.open

    def wait(self, changes_seen: int, timeout: float) -> None:
        self.waits.append(timeout)


def lock_with(watched: Watched, answers: Answers) -> Lock:
    lock = Lock(unreachable(), "modelrollout", "ops", "me")
    lock.watch = watched  # type: ignore[assignment]
    lock.api_instance = answers
    return lock


def test_a_standby_looks_through_the_watch_and_reads_only_after_a_failed_write() -> None:
    answers = Answers(
        client.ApiException(status=409, reason="Conflict"),  # the leader renewed meanwhile
        lease("leader", "6"),  # so the next look reads
    )
    watched = Watched(lease("leader", "5"))
    lock = lock_with(watched, answers)
    found, seen = lock.get("modelrollout", "ops")
    assert found
    assert seen.holder_identity == "leader"
    assert answers.calls == [], "the watch's Lease: no request"
    assert not lock.update("modelrollout", "ops", record("me"))
    found, seen = lock.get("modelrollout", "ops")
    assert answers.calls == ["PUT@5", "GET"], "the watch may be behind the write that won"
    lock.get("modelrollout", "ops")
    assert answers.calls == ["PUT@5", "GET"], "then the watch again"


def test_without_a_watch_open_the_standby_reads() -> None:
    answers = Answers(lease("leader", "5"))
    lock = lock_with(Watched(lease("leader", "4"), is_open=False), answers)
    found, _ = lock.get("modelrollout", "ops")
    assert found
    assert answers.calls == ["GET"]


def test_the_lease_the_watch_gave_is_the_one_written_on() -> None:
    """A takeover's PUT carries the resourceVersion the standby saw: had the leader
    renewed since, the API server refuses it."""
    answers = Answers(lease("me", "8"))
    lock = lock_with(Watched(lease(None, "7")), answers)  # released
    lock.get("modelrollout", "ops")
    assert lock.update("modelrollout", "ops", record("me"))
    assert answers.calls == ["PUT@7"]


def test_a_leader_renews_on_the_lease_it_wrote_and_reads_again_after_a_failed_write() -> None:
    """client-go's fast path: one PUT per renewal while ours is the last write; any other
    write makes the PUT fail on the resourceVersion, and the next try reads first."""
    answers = Answers(
        lease("me", "2"),  # taken
        lease("me", "3"),  # renewed without a read
        client.ApiException(status=409, reason="Conflict"),  # someone else wrote it
        lease("other", "7"),  # so the next try reads
    )
    lock = lock_with(Watched(lease("someone", "1")), answers)
    found, seen = lock.get("modelrollout", "ops")
    assert found
    assert seen.holder_identity == "someone"
    assert lock.update("modelrollout", "ops", record("me"))
    found, seen = lock.get("modelrollout", "ops")
    assert found
    assert seen.holder_identity == "me"
    assert lock.update("modelrollout", "ops", record("me"))
    lock.get("modelrollout", "ops")
    assert not lock.update("modelrollout", "ops", record("me"))
    found, seen = lock.get("modelrollout", "ops")
    assert seen.holder_identity == "other"
    assert answers.calls == ["PUT@1", "PUT@2", "PUT@3", "GET"]


def test_a_renewal_counts_from_before_its_request_was_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A renewal that took 20 s to answer (frozen in between) proves nothing newer than
    the moment it was sent."""
    monkeypatch.setattr(election, "clock", lambda: 100.0)
    monkeypatch.setattr(LeaseLock, "create", lambda *_: False)
    lock = lock_with(Watched(), Answers(lease("me", "2")))
    lock.lease_reference = lease("me", "1")
    assert lock.update("modelrollout", "ops", record("me"))
    assert lock.renewed_at == 100.0
    monkeypatch.setattr(election, "clock", lambda: 130.0)
    assert not lock.create("modelrollout", "ops", record("me"))
    assert lock.renewed_at == 100.0, "a failed write renews nothing"
    assert lock.read_next, "someone else created it: read it"


def test_a_released_lease_is_never_renewed() -> None:
    answers = Answers()
    lock = lock_with(Watched(), answers)
    lock.lease_reference = lease("me", "4")
    lock.state.released = True
    assert not lock.update("modelrollout", "ops", record("me"))
    assert answers.calls == []


def elected(lock: Lock, alive: Callable[[], bool] = lambda: True) -> Election:
    return Election(lock, LeaseTiming(), lambda: None, lambda: None, alive)


def test_a_standby_sleeps_until_the_lease_runs_out_unless_the_watch_says_more() -> None:
    watched = Watched(lease("leader", "5"))
    vote = elected(lock_with(watched, Answers()))
    vote.observed_time_milliseconds = int(time.time() * 1000) - 1000  # seen renewed 1 s ago
    assert 2.5 < vote._until_next_try() <= 3, "the rest of the 4 s Lease"
    watched.open = False
    assert vote._until_next_try() == 1.5, "no watch: a look every renew interval"
    vote.observed_time_milliseconds -= 5000
    watched.open = True
    assert vote._until_next_try() == 0.5, "run out yet not taken: someone else got there"


def test_a_standby_takes_a_released_lease_at_once_and_waits_for_a_held_one() -> None:
    answers = Answers(lease("me", "8"))
    watched = Watched(lease("leader", "5"))
    lock = lock_with(watched, answers)
    vote = elected(lock)
    assert not vote.try_acquire_or_renew(), "held by the leader, just seen"
    assert answers.calls == []
    watched.seen = lease(None, "7")  # handed back on a clean exit
    assert vote.try_acquire_or_renew()
    assert answers.calls == ["PUT@7"]


class Clock:
    """The fencing clock and the election's sleeps, in fake seconds."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def test_a_leader_renews_every_interval_and_gives_up_a_lease_after_its_last_renewal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Clock()
    monkeypatch.setattr(election, "clock", fake)
    monkeypatch.setattr(election.time, "sleep", fake.sleep)
    lock = lock_with(Watched(), Answers())
    vote = elected(lock)
    outcomes = iter([True, True, False, True, False, False, False, False, False, False, True])
    tries: list[float] = []

    def try_acquire_or_renew() -> bool:
        tries.append(fake.now)
        renewed = next(outcomes)
        if renewed:
            lock.state.renewed_at = fake.now
        return renewed

    monkeypatch.setattr(vote, "try_acquire_or_renew", try_acquire_or_renew)
    lock.state.renewed_at = 0.0  # just taken
    vote.renew_loop()
    # Renewed at 1.5 and 3; failed at 4.5, renewed at 5 (a retry period later); then
    # failed from 6.5 until 9, a whole Lease after 5: given up without trying at 9.5.
    assert tries == [1.5, 3.0, 4.5, 5.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0]
    assert next(outcomes), "the try after giving up was never made"


def test_a_stuck_operator_stops_renewing_and_its_lease_runs_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator's event loop stopped turning at 3.5 s (handlers.election_process):
    renewing for it would keep a standby out, with nothing acting."""
    fake = Clock()
    monkeypatch.setattr(election, "clock", fake)
    monkeypatch.setattr(election.time, "sleep", fake.sleep)
    lock = lock_with(Watched(), Answers())
    vote = elected(lock, alive=lambda: fake.now < 3.5)
    tries: list[float] = []

    def try_acquire_or_renew() -> bool:
        tries.append(fake.now)
        lock.state.renewed_at = fake.now
        return True

    monkeypatch.setattr(vote, "try_acquire_or_renew", try_acquire_or_renew)
    lock.state.renewed_at = 0.0  # just taken
    vote.renew_loop()
    assert tries == [1.5, 3.0], "no renewal once stuck"
    assert fake.now == 7.0, "given up a whole Lease after the last renewal"


def test_a_standby_whose_operator_is_stuck_does_not_take_the_lease() -> None:
    answers = Answers(lease("me", "8"))
    watched = Watched(lease(None, "7"))  # free to take
    turns = iter([False, False, True])
    vote = elected(lock_with(watched, answers), alive=lambda: next(turns))
    assert vote.acquire()
    assert watched.waits == [1.5, 1.5], "a look every renew interval while stuck"
    assert answers.calls == ["PUT@7"], "taken only once the operator works again"


@pytest.mark.parametrize(
    ("lease_s", "deadline", "interval", "retry"),
    [(8, 8, 2, 1), (8, 9, 2, 1), (8, 6, 6, 1), (8, 6, 2, 0), (8, 6, 2, 3), (1, 0.8, 0.5, 0.5)],
)
def test_lease_timings_leave_room_for_a_write_in_flight_and_a_retry(
    lease_s: int, deadline: float, interval: float, retry: float
) -> None:
    with pytest.raises(ValueError, match="retry <= renew interval < renew deadline < lease"):
        LeaseTiming(lease_s, deadline, interval, retry)


def test_a_stall_shorter_than_the_lease_is_refused() -> None:
    """The stall bound is for a stuck event loop: one shorter than the Lease would give
    the Lease up during an ordinary pause."""
    with pytest.raises(ValueError, match="<= stall"):
        LeaseTiming(4, 3, 1.5, 0.5, stall_seconds=3)
    assert LeaseTiming(4, 3, 1.5, 0.5, stall_seconds=4).stall_seconds == 4


def test_the_default_timings_make_one_renewal_every_one_and_a_half_seconds() -> None:
    timing = LeaseTiming()
    assert (timing.lease_seconds, timing.renew_deadline_seconds) == (4, 3)
    assert 1 / timing.renew_interval_seconds < 1, "under one request a second, idle"


class Refusing:
    """CoordinationV1Api without the right to list Leases."""

    def list_namespaced_lease(self, namespace: str, **_: object) -> client.V1LeaseList:
        raise client.ApiException(status=403, reason="Forbidden")


class Stop(Exception):
    pass


def test_a_lease_watch_refused_says_what_rbac_lacks_and_the_election_reads(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def sleep(seconds: float) -> None:
        raise Stop(seconds)

    monkeypatch.setattr(lease_watch.time, "sleep", sleep)
    watched = LeaseWatch(Refusing(), "modelrollout", "ops")  # type: ignore[arg-type]
    with pytest.raises(Stop):
        watched._run()
    assert not watched.is_open()
    assert watched.latest() is None, "so the election asks the API server"
    assert "RBAC must allow list and watch on it" in caplog.text


def test_a_lease_watch_wakes_its_waiter_and_hands_out_copies() -> None:
    watched = LeaseWatch(Refusing(), "modelrollout", "ops")  # type: ignore[arg-type]
    seen = watched.changes
    threading.Timer(0.05, lambda: watched._set(lease("leader", "9"), is_open=True)).start()
    started = time.monotonic()
    watched.wait(seen, timeout=30)
    assert time.monotonic() - started < 30, "woken by the change, not the timeout"
    mine = watched.latest()
    assert mine is not None
    mine.spec.holder_identity = "me"  # a takeover's PUT changes the copy it was given
    again = watched.latest()
    assert again is not None
    assert again.spec.holder_identity == "leader"
