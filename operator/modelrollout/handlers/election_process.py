"""The leader election, in a process of its own (started by handlers.leadership).

A renewal is a small request every 1.5 s, but in the operator's process it waits for
Python's interpreter lock, which a busy operator holds for seconds at a time: a full
garbage collection of a large heap (measured: 2.8 s at 8 million objects), or a huge
list parsed in one call. At ten thousand ModelDeployments the renewals arrived up to
4 s apart and the fence lapsed for moments. Here, with a heap of its own that stays
small, the election renews on time however busy the operator is; the fence still
reads the last renewal just before each write (handlers.lease_state).

With the operator's process it speaks in lines: it says `leading` on its stdout once
it holds the Lease, and answers `release` on its stdin with `released` or `kept`.
It exits when the Lease is lost, or when its stdin closes (the operator is gone:
nothing renews for it then), or once an operator whose event loop stopped turning
(LeaseTiming.stall_seconds) has let the Lease run out; never on a signal of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime

from kubernetes import client

from modelrollout.handlers import client_parts, log_format
from modelrollout.handlers.election import Election, LeaseTiming, Lock
from modelrollout.handlers.fencing import clock
from modelrollout.handlers.lease_state import attach

logger = logging.getLogger("modelrollout")
# The client logs every retry at INFO ("yet to finish lease_duration..."); we log the
# transitions ourselves.
logging.getLogger("leaderelection").setLevel(logging.WARNING)


def command(namespace: str, name: str, identity: str, timing: LeaseTiming, fd: int) -> list[str]:
    """How the operator's process starts this one (`fd` must be passed to it)."""
    return [
        sys.executable,
        "-m",
        __name__,
        f"--namespace={namespace}",
        f"--name={name}",
        f"--identity={identity}",
        f"--timing={json.dumps(dataclasses.asdict(timing))}",
        f"--state-fd={fd}",
        f"--log-level={logging.getLogger('modelrollout').getEffectiveLevel()}",
    ]


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Candidate:
    def __init__(self, lock: Lock, timing: LeaseTiming) -> None:
        self.lock = lock
        self.timing = timing
        self.where = f"Lease {lock.namespace}/{lock.name}"

    def alive(self) -> bool:
        """The operator's event loop turned within the stall bound."""
        return clock() - self.lock.state.alive_at < self.timing.stall_seconds

    def started(self) -> None:
        self.lock.state.leading = True
        logger.info("%s: leading as %s", self.where, self.lock.identity)
        _say("leading")

    def stopped(self) -> None:
        self.lock.state.leading = False  # the fence closes now, before anyone is told
        if self.lock.released:
            return
        why = "renewals failed" if self.alive() else "the operator's event loop stopped turning"
        lease = self.timing.lease_seconds
        logger.error("%s: lost (not renewed within %ss: %s); exiting", self.where, lease, why)
        _exit(1)

    def follow_the_operator(self) -> None:
        """Until the operator asks for the Lease back, or is gone."""
        for line in sys.stdin:
            if line.strip() == "release":
                _say("released" if self.release() else "kept")
                break
        else:
            if self.lock.state.leading:
                logger.warning("%s: the operator is gone; the Lease runs out", self.where)
        _exit(0)

    def release(self) -> bool:
        """Hand the Lease back if we still hold it (a conflict means someone else does)."""
        self.lock.state.released = True  # no renewal after this (set by the operator too)
        if not self.lock.state.leading:
            return False
        api: client.CoordinationV1Api = self.lock.api_instance
        try:
            lease = api.read_namespaced_lease(self.lock.name, self.lock.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.lock.identity:
                logger.info("%s: not released (another replica holds it)", self.where)
                return False
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = datetime.now(UTC)
            api.replace_namespaced_lease(self.lock.name, self.lock.namespace, lease)
            logger.info("%s: released", self.where)
            return True
        except client.ApiException as exc:
            logger.warning("%s: not released (%s %s)", self.where, exc.status, exc.reason)
            return False


def _exit(code: int) -> None:
    logging.shutdown()
    os._exit(code)  # at once: the client's election thread cannot be stopped otherwise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=__name__, description=__doc__)
    for option in ("--namespace", "--name", "--identity", "--timing"):
        parser.add_argument(option, required=True)
    parser.add_argument("--state-fd", type=int, required=True)
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    args = parser.parse_args(argv)
    # A signal to the operator's whole process group (Ctrl-C, a supervisor's SIGTERM)
    # is the operator's to handle: it asks for the Lease back, then its exit closes
    # our stdin. Ended by the signal first, we could not hand the Lease back.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log_format.configure(args.log_level)
    timing = LeaseTiming(**json.loads(args.timing))
    api = client.ApiClient(client_parts.api_configuration(connections=3))  # + the watch
    lock = Lock(api, args.name, args.namespace, args.identity, attach(args.state_fd))
    candidate = Candidate(lock, timing)
    election = Election(lock, timing, candidate.started, candidate.stopped, candidate.alive)
    lock.watch.start()
    threading.Thread(target=candidate.follow_the_operator, name="operator", daemon=True).start()
    try:
        election.run()  # type: ignore[no-untyped-call]
    except Exception:  # a standby that cannot elect must not wait forever
        logger.exception("%s: leader election failed; exiting", candidate.where)
    _exit(1)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
