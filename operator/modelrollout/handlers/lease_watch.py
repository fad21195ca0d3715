"""The Lease as the API server last told us, through a watch.

A standby that polled the Lease would ask once a second, all day, to learn that
nothing changed; watching it, the standby asks twice per window (a LIST, then a WATCH
from its resourceVersion) and hears of a renewal, a handover or a release the moment it
is stored. While no watch is open (at start, after an error) `latest()` says so and the
election reads the Lease itself, so a broken watch costs requests, never a failover.
"""

from __future__ import annotations

import copy
import logging
import threading
import time

from kubernetes import client, watch

logger = logging.getLogger("modelrollout")
WINDOW_SECONDS = 300  # the API server ends each watch after this; we list and watch again
MAX_BACKOFF_SECONDS = 30.0


class LeaseWatch:
    def __init__(
        self,
        api: client.CoordinationV1Api,
        name: str,
        namespace: str,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self.api = api
        self.name = name
        self.namespace = namespace
        self.window_seconds = window_seconds
        self._changed = threading.Condition()
        self._lease: client.V1Lease | None = None
        self._open = False  # a watch is open, and _lease is what it last said
        self.changes = 0  # counts what the watch said (see wait)

    def start(self) -> None:
        threading.Thread(target=self._run, name="lease-watch", daemon=True).start()

    def latest(self) -> client.V1Lease | None:
        """A copy of the Lease as last seen (the caller may change it), or None: no watch
        open, or no Lease (then ask the API server)."""
        with self._changed:
            return copy.deepcopy(self._lease) if self._open else None

    def is_open(self) -> bool:
        with self._changed:
            return self._open

    def wait(self, changes_seen: int, timeout: float) -> None:
        """Until the watch says anything after `changes_seen` (read before looking), or
        `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.changes != changes_seen, timeout)

    def _set(self, lease: client.V1Lease | None, is_open: bool) -> None:
        with self._changed:
            self._lease, self._open = lease, is_open
            self.changes += 1
            self._changed.notify_all()

    def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                self._follow()
                backoff = 1.0
            except Exception as exc:  # the election reads the Lease itself meanwhile
                self._set(None, is_open=False)
                refused = isinstance(exc, client.ApiException) and exc.status in (401, 403)
                (logger.warning if refused else logger.debug)(
                    "Lease %s/%s not watched (%s); read instead, watched again in %gs%s",
                    self.namespace,
                    self.name,
                    type(exc).__name__,
                    backoff,
                    ": RBAC must allow list and watch on it" if refused else "",
                )
                time.sleep(backoff)
                backoff = min(2 * backoff, MAX_BACKOFF_SECONDS)

    def _follow(self) -> None:
        """One window: list the Lease, then watch it until the API server ends the watch
        (a 410 or any error raises)."""
        only_ours = f"metadata.name={self.name}"
        listed = self.api.list_namespaced_lease(self.namespace, field_selector=only_ours)
        self._set(listed.items[0] if listed.items else None, is_open=True)
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            self.api.list_namespaced_lease,
            self.namespace,
            field_selector=only_ours,
            resource_version=listed.metadata.resource_version if listed.metadata else None,
            timeout_seconds=self.window_seconds,
            # A connection that died without a word is noticed, and the watch reopened.
            _request_timeout=self.window_seconds + 30,
        )
        for event in stream:
            gone = event["type"] == "DELETED"
            self._set(None if gone else event["object"], is_open=True)
