"""Notifications: a webhook per namespace or for the whole operator, sent from a thread
of its own, so a slow or dead receiver never holds a rollout up.

Where to: a Secret named by --notifications-secret, in the ModelDeployment's namespace
(its team's receiver) or else in --notifications-namespace (the operator's). Its keys:
`url` (required) and `format`: `json` (the default; the body is documented in the
README) or `slack` (`{"text": ...}`, for Slack-compatible incoming webhooks). A webhook
URL is a credential: it is never logged, nor put in status or Events. A receiver is
reached through the operator's allow-list (--prometheus-allow, checked on every
connection, metrics.guarded_http), and what it answers is never read.

Each notice is sent once. A failure (no connection, a timeout, 429 or 5xx) is tried
again after 1, 2, 4 and 8 s, then dropped with a log line; other answers are final.
SENDERS threads send, one notice per namespace at a time, and retries wait in a
schedule, not in a thread: a receiver that hangs holds one thread and its own
namespace's notices, never another namespace's. At most QUEUE_LIMIT wait, the oldest
dropped first.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from kubernetes import client
from prometheus_client import Counter

from modelrollout.engine.notices import Notice
from modelrollout.metrics.endpoints import EndpointPolicy, EndpointRefused
from modelrollout.metrics.guarded_http import guarded_session

logger = logging.getLogger("modelrollout")

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
SENDERS = 4
TIMEOUT = (3.0, 5.0)  # connect, read (seconds)
QUEUE_LIMIT = 1000
SECRET_TTL = 30.0  # a Secret is read again after this long
RETRYABLE = {429, 500, 502, 503, 504}
NOTIFICATIONS = Counter(
    "modelrollout_notifications",
    "Notifications by outcome (sent, retried, dropped)",
    ["outcome"],
)


@dataclass(frozen=True)
class Receiver:
    url: str
    format: str  # json | slack


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    notice: Notice = field(compare=False)
    attempt: int = field(default=0, compare=False)


def body(notice: Notice, form: str) -> dict[str, Any]:
    if form == "slack":
        who = f"{notice.namespace}/{notice.name}"
        return {
            "text": f"{who}: {notice.kind} {notice.version} ({notice.reason}): {notice.message}"
        }
    return {
        "id": notice.id,
        "kind": notice.kind,
        "namespace": notice.namespace,
        "name": notice.name,
        "version": notice.version,
        "fromVersion": notice.from_version,
        "reason": notice.reason,
        "message": notice.message,
        "at": notice.at.isoformat().replace("+00:00", "Z"),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notifications-secret",
        metavar="NAME",
        default=None,
        help="send rollout notifications to the webhook in the Secret of this name (keys "
        "url, format: json or slack), in the ModelDeployment's namespace or else in "
        "--notifications-namespace; default: none",
    )
    parser.add_argument(
        "--notifications-namespace",
        metavar="NAMESPACE",
        default=None,
        help="where the operator-wide notifications Secret is (the operator's namespace)",
    )


class Notifier:
    def __init__(
        self,
        receivers: Callable[[str], Receiver | None],
        policy: EndpointPolicy,
        delays: Sequence[float] = RETRY_DELAYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`receivers`: a namespace's receiver (SecretReceivers)."""
        self._receivers, self._delays, self._clock = receivers, tuple(delays), clock
        self._policy = policy
        self._local = threading.local()  # a session per sender thread
        self._due: list[_Delivery] = []
        self._busy: set[str] = set()  # namespaces with a delivery in flight
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._threads: list[threading.Thread] = []

    def notify(self, notices: Sequence[Notice]) -> None:
        """Queue notices (from a worker thread); returns at once."""
        if not notices:
            return
        with self._wake:
            for notice in notices:
                self._due.append(_Delivery(self._clock(), next(self._seq), notice))
            while len(self._due) > QUEUE_LIMIT:
                self._due.remove(min(self._due, key=lambda d: d.seq))
                NOTIFICATIONS.labels("dropped").inc()
                logger.warning("notification dropped: %s waiting", QUEUE_LIMIT)
            self._wake.notify_all()
            if not self._threads:
                for number in range(SENDERS):
                    thread = threading.Thread(target=self._run, name=f"notifier-{number}")
                    thread.daemon = True
                    thread.start()
                    self._threads.append(thread)

    def stop(self, wait: float = 0.0) -> None:
        """No new delivery starts; one in flight finishes (within its timeouts) on its
        own, or within `wait` seconds here. The operator does not wait: its Lease is
        handed back at once, and what is still queued is lost with the process."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        deadline = time.monotonic() + wait
        for thread in self._threads if wait > 0 else ():
            thread.join(max(deadline - time.monotonic(), 0.0))

    def _next(self) -> _Delivery | None:
        """The earliest due delivery to a namespace with none in flight (lock held)."""
        now = self._clock()
        ready = [d for d in self._due if d.due <= now and d.notice.namespace not in self._busy]
        if not ready:
            return None
        chosen = min(ready)
        self._due.remove(chosen)
        return chosen

    def _run(self) -> None:
        while True:
            with self._wake:
                delivery = None
                while not self._stopped and (delivery := self._next()) is None:
                    later = [d.due for d in self._due if d.notice.namespace not in self._busy]
                    self._wake.wait(min(later) - self._clock() if later else None)
                if self._stopped or delivery is None:
                    return
                self._busy.add(delivery.notice.namespace)
            try:
                self._deliver(delivery)
            except Exception as exc:  # the thread must live on: this notice is lost
                NOTIFICATIONS.labels("dropped").inc()
                logger.warning("notification dropped: %s", type(exc).__name__)
            finally:
                with self._wake:
                    self._busy.discard(delivery.notice.namespace)
                    self._wake.notify_all()

    def _deliver(self, delivery: _Delivery) -> None:
        notice = delivery.notice
        where = f"{notice.namespace}/{notice.name} {notice.kind}"
        receiver = self._receivers(notice.namespace)
        if receiver is None:
            return
        problem = self._send(receiver, notice)
        if problem is None:
            NOTIFICATIONS.labels("sent").inc()
            return
        retry, said = problem
        if retry and delivery.attempt < len(self._delays):
            NOTIFICATIONS.labels("retried").inc()
            delay = self._delays[delivery.attempt]
            logger.info("notification %s: %s; again in %gs", where, said, delay)
            with self._wake:
                due = _Delivery(
                    self._clock() + delay, next(self._seq), notice, delivery.attempt + 1
                )
                self._due.append(due)
                self._wake.notify_all()
            return
        NOTIFICATIONS.labels("dropped").inc()
        logger.warning("notification %s dropped: %s", where, said)

    def _send(self, receiver: Receiver, notice: Notice) -> tuple[bool, str] | None:
        """None when delivered; else whether to try again, and what happened (never
        the URL, never what the receiver said)."""
        try:
            session = getattr(self._local, "session", None)
            if session is None:
                session = self._local.session = guarded_session(self._policy)
            answer = session.post(
                receiver.url,
                json=body(notice, receiver.format),
                headers={"Idempotency-Key": notice.id},
                timeout=TIMEOUT,
                allow_redirects=False,
                stream=True,
            )
        except EndpointRefused as exc:
            return False, f"refused: {exc}"
        except requests.RequestException as exc:
            return True, f"the receiver could not be reached ({type(exc).__name__})"
        answer.close()  # its body is not read
        if 200 <= answer.status_code < 300:
            return None
        return answer.status_code in RETRYABLE, f"the receiver answered {answer.status_code}"


class SecretReceivers:
    """A namespace's receiver from the Secret `secret` in it, else the one in
    `fallback` (each Secret read at most every SECRET_TTL seconds)."""

    def __init__(
        self,
        api: client.ApiClient,
        secret: str,
        fallback: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core, self.secret, self.fallback, self._clock = (
            client.CoreV1Api(api),
            secret,
            fallback,
            clock,
        )
        self._read_at: dict[str, tuple[float, Receiver | None]] = {}
        self._lock = threading.Lock()  # the sender threads share the cache

    def __call__(self, namespace: str) -> Receiver | None:
        for where in (namespace, self.fallback):
            found = self._read(where) if where is not None else None
            if found is not None:
                return found
        return None

    def _read(self, namespace: str) -> Receiver | None:
        now = self._clock()
        with self._lock:
            cached = self._read_at.get(namespace)
        if cached is not None and now - cached[0] < SECRET_TTL:
            return cached[1]
        receiver = None
        try:
            data = self._core.read_namespaced_secret(self.secret, namespace).data or {}
            url = _decoded(data, "url")
            if url:
                receiver = Receiver(url, "slack" if _decoded(data, "format") == "slack" else "json")
        except client.ApiException as exc:
            if exc.status not in (403, 404):
                logger.warning(
                    "notifications: Secret %s/%s: %s", namespace, self.secret, exc.status
                )
        with self._lock:
            self._read_at[namespace] = (now, receiver)
        return receiver


def _decoded(data: Mapping[str, str | bytes], key: str) -> str:
    return base64.b64decode(data.get(key, "")).decode(errors="replace").strip()
