"""Two replicas, one active: leader election on a coordination.k8s.io Lease.

The kubernetes client's `leaderelection` (with its LeaseLock) does the election, in a
thread of its own beside kopf. A standby is hot: kopf runs in it from the start, its
watches keep the caches filled, but no loop reconciles until the Lease is taken
(`when_leading`), so a failover is the Lease handover alone. Every write is fenced
(handlers.fencing, and handlers.kopf_writes for kopf's own): it is sent only while the
last renewal is younger than the renew deadline. Losing the Lease ends the process at
once, as controller-runtime does: a replica that cannot renew may already have a
successor.
On a clean exit the Lease is handed back, so the standby takes over within one retry
period instead of waiting for the lease to run out.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from modelrollout.handlers.fencing import clock

logger = logging.getLogger("modelrollout")
# The client logs every retry at INFO ("yet to finish lease_duration..."); we log the
# transitions ourselves.
logging.getLogger("leaderelection").setLevel(logging.WARNING)


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's defaults are 15/10/2 s. With a hot standby a failover is the Lease
    handover alone: the Lease runs out a whole duration after the standby last saw it
    renewed (it looks every retry period), then its next try takes it. That is between
    3 and 6 s after the leader died (4.5 s on average). A leader that cannot renew for
    3 s stops writing (the fence), then gives up. Renewing is one PUT a second (the fast
    path below), a standby's look one GET a second. A 2 s renew deadline (3/2/1) gave
    failovers a second sooner, but a leader busy with a thousand rollouts starting at
    once on 2 cores renewed late enough that its fence lapsed (make bench)."""

    lease_seconds: int = 4  # the Lease stores whole seconds
    renew_deadline_seconds: float = 3
    retry_seconds: float = 1

    def __post_init__(self) -> None:
        # The difference is what covers a fenced write's flight (handlers.fencing).
        if not 0 < self.retry_seconds < self.renew_deadline_seconds < self.lease_seconds:
            raise ValueError(
                "lease timings need retry < renew deadline < lease duration, got "
                f"{self.retry_seconds:g} / {self.renew_deadline_seconds:g} / "
                f"{self.lease_seconds:g} s"
            )


class _Lock(LeaseLock):
    """The client's LeaseLock on our ApiClient, refusing to renew once released, and
    remembering when its last successful write was sent (the fence's reference).

    client-go's fast path: a leader whose last write succeeded renews on the Lease it
    wrote (its resourceVersion) without reading it first. Had anyone else written the
    Lease since, the PUT fails on the resourceVersion and the next try reads it."""

    def __init__(self, api: client.ApiClient, name: str, namespace: str, identity: str) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = client.CoordinationV1Api(api)
        self.released = False
        self.renewed_at: float | None = None  # fencing.clock() before the request went out
        self.wrote_last = False  # lease_reference is the Lease as our last write left it

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        if self.wrote_last and self.lease_reference is not None:
            return True, self.get_lock_object(self.lease_reference)  # type: ignore[no-untyped-call]
        return super().get(name, namespace)  # type: ignore[no-any-return,no-untyped-call]

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        sent = clock()
        created = bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]
        if created:
            self.renewed_at = sent
        self.wrote_last = created
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
            return False
        self.renewed_at = sent
        self.wrote_last = True
        return True


class Leadership:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming = LeaseTiming(),
    ) -> None:
        self.lock = _Lock(api, name, namespace, identity)
        self.timing = timing
        self.leading = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()
        self.where = f"Lease {namespace}/{name}"

    def holds(self) -> bool:
        """The fence: leading, not released, and renewed within the renew deadline."""
        renewed = self.lock.renewed_at
        return (
            self.leading.is_set()
            and not self.lock.released
            and renewed is not None
            and clock() - renewed < self.timing.renew_deadline_seconds
        )

    def when_leading(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the election's thread) once this replica leads, or at
        once if it already does."""
        with self._callbacks_lock:
            if not self.leading.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def _started_leading(self) -> None:
        with self._callbacks_lock:
            self.leading.set()
            callbacks, self._callbacks = self._callbacks, []
        logger.info("%s: leading as %s", self.where, self.lock.identity)
        for callback in callbacks:
            callback()

    def start(self) -> None:
        """Stand by in a thread of the election's own; `when_leading` says when it leads."""
        config = electionconfig.Config(  # type: ignore[no-untyped-call]
            self.lock,
            lease_duration=self.timing.lease_seconds,
            renew_deadline=self.timing.renew_deadline_seconds,
            retry_period=self.timing.retry_seconds,
            onstarted_leading=self._started_leading,
            onstopped_leading=self._lost,
        )
        election = leaderelection.LeaderElection(config)  # type: ignore[no-untyped-call]

        def elect() -> None:
            try:
                election.run()  # type: ignore[no-untyped-call]
            except Exception:  # a standby that cannot elect must not wait forever
                logger.exception("%s: leader election failed; exiting", self.where)
                self._exit()

        threading.Thread(target=elect, name="leader-election", daemon=True).start()
        logger.info("%s: standing by as %s", self.where, self.lock.identity)

    def _lost(self) -> None:
        if self.lock.released:
            return
        logger.error(
            "%s: lost (not renewed within %ss); exiting",
            self.where,
            self.timing.renew_deadline_seconds,
        )
        self._exit()

    @staticmethod
    def _exit() -> None:
        logging.shutdown()
        os._exit(1)  # at once: no more actions from a replica that may have a successor

    def release(self) -> None:
        """Hand the Lease back if we still hold it (a conflict means someone else does)."""
        if not self.leading.is_set():
            return
        self.lock.released = True
        api: client.CoordinationV1Api = self.lock.api_instance
        try:
            lease = api.read_namespaced_lease(self.lock.name, self.lock.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.lock.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = datetime.now(UTC)
            api.replace_namespaced_lease(self.lock.name, self.lock.namespace, lease)
            logger.info("%s: released", self.where)
        except client.ApiException as exc:
            logger.warning("%s: not released (%s %s)", self.where, exc.status, exc.reason)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leader-election-namespace",
        metavar="NAMESPACE",
        default=None,
        help="run as one of several replicas: lead through a Lease in this namespace "
        "(the operator's own); default: standalone, no election",
    )
    parser.add_argument("--lease-name", default="modelrollout", help="the Lease's name")
    default = LeaseTiming()
    parser.add_argument(
        "--lease-seconds",
        type=int,
        default=default.lease_seconds,
        help=f"how long a Lease holds unrenewed (default {default.lease_seconds:g})",
    )
    parser.add_argument(
        "--lease-renew-deadline-seconds",
        type=float,
        default=default.renew_deadline_seconds,
        help="a leader that cannot renew within this gives up and exits "
        f"(default {default.renew_deadline_seconds:g})",
    )
    parser.add_argument(
        "--lease-retry-seconds",
        type=float,
        default=default.retry_seconds,
        help=f"between renewals, and a standby's tries (default {default.retry_seconds:g})",
    )


def timing(args: argparse.Namespace) -> LeaseTiming:
    """ValueError says which timings cannot work together."""
    return LeaseTiming(
        args.lease_seconds, args.lease_renew_deadline_seconds, args.lease_retry_seconds
    )
