"""Two replicas, one active: leader election on a coordination.k8s.io Lease.

The kubernetes client's `leaderelection` (with its LeaseLock) does the election. A
standby does nothing but try to take the Lease (and answer its liveness probe); once
it leads, the operator starts. Every write is fenced (handlers.fencing): it is sent
only while the last renewal is younger than the renew deadline. Losing the Lease ends
the process at once, as controller-runtime does: a replica that cannot renew may
already have a successor.
On a clean exit the Lease is handed back, so the standby takes over within one retry
period instead of waiting for the lease to run out.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

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
    """client-go's defaults are 15/10/2 s. These give a new leader within about 11 s of
    the leader's death (the Lease runs out, then the standby's next try); a leader that
    cannot renew for 6 s (two tries) gives up; and both replicas together make 1 request/s
    (the leader a GET and a PUT per try, the standby a GET)."""

    lease_seconds: int = 8  # the Lease stores whole seconds
    renew_deadline_seconds: float = 6
    retry_seconds: float = 3

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
    remembering when its last successful write was sent (the fence's reference)."""

    def __init__(self, api: client.ApiClient, name: str, namespace: str, identity: str) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = client.CoordinationV1Api(api)
        self.released = False
        self.renewed_at: float | None = None  # fencing.clock() before the request went out

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        sent = clock()
        created = bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]
        if created:
            self.renewed_at = sent
        return created

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        if self.released:
            return False
        sent = clock()
        updated = bool(super().update(name, namespace, updated_record))  # type: ignore[no-untyped-call]
        if updated:
            self.renewed_at = sent
        return updated


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

    def wait_until_leading(self) -> None:
        config = electionconfig.Config(  # type: ignore[no-untyped-call]
            self.lock,
            lease_duration=self.timing.lease_seconds,
            renew_deadline=self.timing.renew_deadline_seconds,
            retry_period=self.timing.retry_seconds,
            onstarted_leading=self.leading.set,
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
        self.leading.wait()
        logger.info("%s: leading as %s", self.where, self.lock.identity)

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


@contextmanager
def standby_liveness(url: str | None) -> Iterator[None]:
    """Answer the liveness probe while standing by (kopf serves it once we lead)."""
    if url is None:
        yield
        return
    parts = urlsplit(url)

    class Alive(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == (parts.path or "/")
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(b"standby\n" if found else b"")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

    server = ThreadingHTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Alive)
    threading.Thread(target=server.serve_forever, name="standby-liveness", daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
