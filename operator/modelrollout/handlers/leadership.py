"""Two replicas, one active: leader election on a coordination.k8s.io Lease.

The kubernetes client's `leaderelection` (handlers.election: a standby watches the
Lease instead of polling it) does the election, in a small process of its own
(handlers.election_process), so that renewals go out on time however busy this one
is. A standby is hot: kopf runs in it from the start, its watches keep the caches
filled, but no loop reconciles until the Lease is taken (`when_leading`), so a
failover is the Lease handover alone. Every write is fenced (handlers.fencing, and
handlers.kopf_writes for kopf's own): it is sent only while the last renewal, read
from memory both processes share (handlers.lease_state), is younger than the renew
deadline. Losing the Lease ends the process at once, as controller-runtime does: a
replica that cannot renew may already have a successor. On a clean exit the Lease is
handed back, so the standby, which watches it, takes over at once instead of waiting
for the Lease to run out.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import threading
from collections.abc import Callable

from modelrollout.handlers import election_process, lease_state
from modelrollout.handlers.election import LeaseTiming
from modelrollout.handlers.fencing import clock

logger = logging.getLogger("modelrollout")
DEFAULT_TIMING = LeaseTiming()
RELEASE_SECONDS = 5.0  # at shutdown, for the election process to hand the Lease back


def _exit(why: str) -> None:
    logger.error("%s; exiting", why)
    logging.shutdown()
    os._exit(1)  # at once: no more actions from a replica that may have a successor


class Leadership:
    def __init__(
        self,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming = DEFAULT_TIMING,
        on_lost: Callable[[str], None] = _exit,
    ) -> None:
        self.namespace, self.name, self.identity = namespace, name, identity
        self.timing = timing
        self.fd, self.state = lease_state.create()
        self.state.alive_at = clock()
        self.leading = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()
        self._on_lost = on_lost
        self._answered = threading.Event()  # to a release (the election process logs how)
        self.process: subprocess.Popen[str] | None = None
        self.where = f"Lease {namespace}/{name}"

    def holds(self) -> bool:
        """The fence: leading, not released, and renewed within the renew deadline."""
        state = self.state
        renewed = state.renewed_at
        return (
            state.leading
            and not state.released
            and renewed > 0
            and clock() - renewed < self.timing.renew_deadline_seconds
        )

    def alive(self) -> None:
        """The operator's event loop turned (handlers.election_ties, every second): the
        election process renews only while it hears this (LeaseTiming.stall_seconds)."""
        self.state.alive_at = clock()

    def when_leading(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the thread that hears the election) once this replica
        leads, or at once if it already does."""
        with self._callbacks_lock:
            if not self.leading.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def _started_leading(self) -> None:
        with self._callbacks_lock:
            self.leading.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def start(self) -> None:
        """Stand by: start the election process; `when_leading` says when it leads."""
        self.process = process = subprocess.Popen(
            election_process.command(
                self.namespace, self.name, self.identity, self.timing, self.fd
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            pass_fds=(self.fd,),
        )
        threading.Thread(
            target=self._hear, args=(process,), name="leader-election", daemon=True
        ).start()
        logger.info("%s: standing by as %s", self.where, self.identity)

    def _hear(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            said = line.strip()
            if said == "leading":
                self._started_leading()
            elif said in ("released", "kept"):
                self._answered.set()
                return
        if not self.state.released:  # it exits only once the Lease is (or may be) lost
            self._on_lost(f"{self.where}: the election process ended ({process.wait()})")

    def release(self) -> None:
        """Hand the Lease back if we still hold it, and end the election process."""
        self.state.released = True  # the fence closes now
        process = self.process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write("release\n")
            process.stdin.close()
        except OSError:  # it has exited already
            return
        if not self._answered.wait(RELEASE_SECONDS):
            logger.warning("%s: no answer to the release; the Lease runs out", self.where)
            process.kill()
        process.wait()


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
    parser.add_argument(
        "--lease-stall-seconds",
        type=float,
        default=default.stall_seconds,
        help="a replica whose event loop has not turned for this long stops renewing, "
        f"and a standby does not take the Lease (default {default.stall_seconds:g})",
    )


def timing(args: argparse.Namespace) -> LeaseTiming:
    """ValueError says which timings cannot work together."""
    return LeaseTiming(
        args.lease_seconds,
        args.lease_renew_deadline_seconds,
        args.lease_renew_interval_seconds,
        args.lease_retry_seconds,
        args.lease_stall_seconds,
    )
