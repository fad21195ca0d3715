"""Two replicas, one active: leader election on a coordination.k8s.io Lease.

The kubernetes client's `leaderelection` (handlers.election: a standby watches the
Lease instead of polling it) does the election, in a thread of its own beside kopf. A
standby is hot: kopf runs in it from the start, its watches keep the caches filled,
but no loop reconciles until the Lease is taken (`when_leading`), so a failover is the
Lease handover alone. Every write is fenced (handlers.fencing, and
handlers.kopf_writes for kopf's own): it is sent only while the last renewal is
younger than the renew deadline. Losing the Lease ends the process at once, as
controller-runtime does: a replica that cannot renew may already have a successor.
On a clean exit the Lease is handed back, so the standby, which watches it, takes over
at once instead of waiting for the Lease to run out.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from kubernetes import client

from modelrollout.handlers.election import Election, LeaseTiming, Lock
from modelrollout.handlers.fencing import clock

logger = logging.getLogger("modelrollout")
# The client logs every retry at INFO ("yet to finish lease_duration..."); we log the
# transitions ourselves.
logging.getLogger("leaderelection").setLevel(logging.WARNING)
DEFAULT_TIMING = LeaseTiming()


class Leadership:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming = DEFAULT_TIMING,
    ) -> None:
        self.lock = Lock(api, name, namespace, identity)
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
        election = Election(self.lock, self.timing, self._started_leading, self._lost)
        self.lock.watch.start()

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
            "%s: lost (not renewed within %ss); exiting", self.where, self.timing.lease_seconds
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
    default = DEFAULT_TIMING
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
        help="a leader that could not renew for this long stops writing "
        f"(default {default.renew_deadline_seconds:g})",
    )
    parser.add_argument(
        "--lease-renew-interval-seconds",
        type=float,
        default=default.renew_interval_seconds,
        help=f"between renewals (default {default.renew_interval_seconds:g})",
    )
    parser.add_argument(
        "--lease-retry-seconds",
        type=float,
        default=default.retry_seconds,
        help=f"after a failed try (default {default.retry_seconds:g})",
    )


def timing(args: argparse.Namespace) -> LeaseTiming:
    """ValueError says which timings cannot work together."""
    return LeaseTiming(
        args.lease_seconds,
        args.lease_renew_deadline_seconds,
        args.lease_renew_interval_seconds,
        args.lease_retry_seconds,
    )
