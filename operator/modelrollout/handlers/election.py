"""The election itself: the kubernetes client's `leaderelection` (its record keeping and
its decision to take or renew the Lease), with the requests it makes cut to what a
failover needs.

- A standby looks at the Lease through a watch (handlers.lease_watch), not a GET a
  second, and sleeps until the Lease would run out, or until the watch says it changed.
- A leader renews on the Lease it last wrote, without reading it first (client-go's
  fast path), every renew interval; after a failed try, every retry period.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from modelrollout.handlers.fencing import clock
from modelrollout.handlers.lease_state import LeaseState
from modelrollout.handlers.lease_watch import LeaseWatch

logger = logging.getLogger("modelrollout")


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's defaults are 15/10/2 s. With a hot standby a failover is the Lease
    handover alone: the standby takes the Lease a whole duration after its last renewal
    reached the watch. The leader renewed at most a renew interval before it died, so a
    failover takes between 2.5 and 4 s. A leader that cannot renew for 3 s stops writing
    (the fence); it gives up a whole Lease after its last renewal, when a standby may hold
    it. Idle, that is 1 PUT every 1.5 s (about 0.7 requests/s), and nothing from the
    standby. A 2 s renew deadline gave failovers a second sooner, but a leader busy with
    a thousand rollouts starting at once on 2 cores renewed late enough that its fence
    lapsed (make bench)."""

    lease_seconds: int = 4  # the Lease stores whole seconds (2 at least)
    renew_deadline_seconds: float = 3
    renew_interval_seconds: float = 1.5
    retry_seconds: float = 0.5
    # The election runs in a process of its own (handlers.election_process), so a busy
    # operator renews on time; one whose event loop has not turned for this long is
    # stuck, not busy: it stops renewing (a standby takes over) and does not take the
    # Lease either. Far above any pause seen (a full garbage collection of a large heap
    # takes seconds).
    stall_seconds: float = 15

    def __post_init__(self) -> None:
        # The difference between the last two is what covers a fenced write's flight
        # (handlers.fencing); a renewal must have time for a retry before the deadline.
        ordered = (
            0
            < self.retry_seconds
            <= self.renew_interval_seconds
            < self.renew_deadline_seconds
            < self.lease_seconds
            <= self.stall_seconds
        )
        if self.lease_seconds < 2 or not ordered:
            raise ValueError(
                "lease timings need retry <= renew interval < renew deadline < lease "
                f"duration (2 s at least) <= stall, got {self.retry_seconds:g} / "
                f"{self.renew_interval_seconds:g} / {self.renew_deadline_seconds:g} / "
                f"{self.lease_seconds:g} / {self.stall_seconds:g} s"
            )


class Lock(LeaseLock):
    """The client's LeaseLock on our ApiClient: it looks at the Lease through the watch
    while one is open; it refuses to renew once released, and keeps when its last
    successful write was sent (the fence's reference) in the state the operator's
    process reads (handlers.lease_state).

    The fast path: a leader whose last write succeeded renews on the Lease it wrote (its
    resourceVersion) without reading it. Had anyone else written the Lease since, the PUT
    fails on the resourceVersion, and the next try reads it from the API server, not the
    watch, which may not have caught up."""

    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        namespace: str,
        identity: str,
        state: LeaseState | None = None,
    ) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = client.CoordinationV1Api(api)
        self.watch = LeaseWatch(self.api_instance, name, namespace)
        self.state = LeaseState() if state is None else state
        self.wrote_last = False  # lease_reference is the Lease as our last write left it
        self.read_next = False  # a write failed: the watch may be behind

    @property
    def renewed_at(self) -> float | None:
        """fencing.clock() before the last successful write went out."""
        return self.state.renewed_at or None

    @property
    def released(self) -> bool:
        return self.state.released

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        if self.wrote_last and self.lease_reference is not None:
            return True, self.get_lock_object(self.lease_reference)  # type: ignore[no-untyped-call]
        watched = None if self.read_next else self.watch.latest()
        if watched is None:  # no watch open (or no Lease yet): ask
            self.read_next = False
            return super().get(name, namespace)  # type: ignore[no-any-return,no-untyped-call]
        self.lease_reference = watched
        return True, self.get_lock_object(watched)  # type: ignore[no-untyped-call]

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        sent = clock()
        created = bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]
        if created:
            self.state.renewed_at = sent
        self.wrote_last, self.read_next = created, not created
        return created

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        self.wrote_last = False
        if self.released or self.lease_reference is None:
            return False
        sent = clock()
        self.lease_reference.spec = self.get_lease_spec(  # type: ignore[no-untyped-call]
            updated_record, self.lease_reference.spec
        )
        try:
            self.lease_reference = self.api_instance.replace_namespaced_lease(
                name, namespace, self.lease_reference
            )
        except client.ApiException as exc:
            logger.debug("Lease not written: %s %s", exc.status, exc.reason)
            self.read_next = True
            return False
        self.state.renewed_at = sent
        self.wrote_last = True
        return True


class Election(leaderelection.LeaderElection):
    """The client's LeaderElection with our waits between tries (the module says which)."""

    def __init__(
        self,
        lock: Lock,
        timing: LeaseTiming,
        started_leading: Callable[[], None],
        stopped_leading: Callable[[], None],
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        # Of the Config's timings only the Lease's duration is used: our loops below
        # wait as LeaseTiming says. The Config insists on a retry period of at least 1 s
        # and a renew deadline above 1.2 of it, so it is given ones it accepts.
        config = electionconfig.Config(  # type: ignore[no-untyped-call]
            lock,
            lease_duration=timing.lease_seconds,
            renew_deadline=1.5,
            retry_period=1,
            onstarted_leading=started_leading,
            onstopped_leading=stopped_leading,
        )
        super().__init__(config)  # type: ignore[no-untyped-call]
        self.lock = lock
        self.timing = timing
        self.alive = alive  # the operator's process still works (it would act)

    def acquire(self) -> bool:
        while True:
            changes_seen = self.lock.watch.changes
            if not self.alive():
                self.lock.watch.wait(changes_seen, self.timing.renew_interval_seconds)
            elif self.try_acquire_or_renew():  # type: ignore[no-untyped-call]
                return True
            else:
                self.lock.watch.wait(changes_seen, self._until_next_try())

    def _until_next_try(self) -> float:
        """Until the Lease, as last seen, runs out; woken sooner by any change the watch
        sees. Without a watch open, a look every renew interval (a release is noticed)."""
        runs_out = self.observed_time_milliseconds / 1000 + self.timing.lease_seconds
        left = runs_out - time.time()  # the client's own clock for observed_time
        if left <= 0:  # run out, yet not taken: someone else's write got there first
            return self.timing.retry_seconds
        if self.lock.watch.is_open():
            return left
        return min(left, self.timing.renew_interval_seconds)

    def renew_loop(self, leading_failed: Any = None) -> None:
        """Renew every renew interval (timed from when the last renewal was sent); after
        a failed try, again every retry period, until a whole Lease has passed since the
        last renewal (a standby may hold it by then). Returning ends the leadership, as
        does an operator process that stopped working (`alive`)."""
        while leading_failed is None or not leading_failed.is_set():
            renewed_at = self.lock.renewed_at or clock()
            time.sleep(max(0.0, renewed_at + self.timing.renew_interval_seconds - clock()))
            while not self.alive() or not self.try_acquire_or_renew():  # type: ignore[no-untyped-call]
                if clock() - renewed_at >= self.timing.lease_seconds:
                    return
                time.sleep(self.timing.retry_seconds)
