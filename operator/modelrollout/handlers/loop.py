"""One loop per ModelDeployment: reconcile when something changed or something is due.

The loop sleeps until the first of: a watch event about the object or anything it
depends on (handlers.caches wakes it), the engine's `next_due`, a retry after a
failure, or the slow resync. It never runs on a blind timer, so an idle ModelDeployment
costs nothing: its observations come from the caches, and a decision that changes
nothing writes nothing.

The blocking work (the Kubernetes client's writes, Prometheus queries) runs on a
thread pool of the operator's own (`--workers`), never on the event loop that keeps
the watches and the other loops going.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.api.vocabulary import Reason
from modelrollout.engine.model import Emit
from modelrollout.engine.notices import notices
from modelrollout.engine.queue import Contender, Limits
from modelrollout.handlers import caches, events, telemetry
from modelrollout.handlers.fencing import Fence, NotLeading, Standalone
from modelrollout.handlers.notifier import Notifier
from modelrollout.handlers.rollout_slots import RolloutSlots
from modelrollout.handlers.status_write import Written, write_status
from modelrollout.handlers.waits import overtaken, sleep, until_leading
from modelrollout.handlers.workers import Workers
from modelrollout.metrics.endpoints import OPEN, EndpointPolicy
from modelrollout.metrics.query_rates import UNLIMITED, QueryRates
from modelrollout.rate_limits import Priority, working_at
from modelrollout.reconcile import (
    Result,
    acting,
    carry_out,
    cluster_adapters,
    error_text,
    reconcile,
    release_route,
    under_way,
    urgency,
)
from modelrollout.routing.router import RouteLookup
from modelrollout.workloads.observed import Owned

logger = logging.getLogger("modelrollout")
UNCHANGED_RERUN_SECONDS = 1.0
FENCED_RETRY_SECONDS = 1.0  # until the Lease is renewed, or the election ends the process


@dataclass
class Runtime:
    """What every loop shares (kept in kopf's memo)."""

    api: client.ApiClient
    workers: Workers
    wakes: caches.Wakes
    fence: Fence = field(default_factory=Standalone)
    # Set once this replica leads: a hot standby's loops wait for it (handlers.leadership)
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    # Route kinds (plurals) served at startup, so the caches have them (routing.registry)
    routes_served: frozenset[str] = frozenset()
    route_selector: str | None = None  # only labelled routes watched (--route-label-selector)
    pools_watched: bool = False  # InferencePools are served, so the cache has ours
    endpoints: EndpointPolicy = OPEN  # where metrics may be queried (--prometheus-allow)
    query_rates: QueryRates = UNLIMITED  # how often each Prometheus (--prometheus-qps)
    resync_seconds: float = 300.0
    stall_seconds: float = 60.0  # liveness fails once a reconcile waited this for a thread
    invalid_recheck_seconds: float = 30.0  # InvalidSpec may hinge on an unwatched Secret
    # The limits of rollouts at once (--max-rollouts...), and who holds the slots.
    slots: RolloutSlots = field(default_factory=lambda: RolloutSlots(Limits()))
    notifier: Notifier | None = None  # --notifications-secret
    # (namespace, name) -> (resourceVersion decided on, the object as written)
    written: dict[caches.Key, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def newest(self, key: caches.Key, body: dict[str, Any]) -> dict[str, Any]:
        """The body to decide on: what we wrote last, until the watch has delivered it.

        A write is only accepted on the resourceVersion read, so while the cache still
        holds that version it is older than what we wrote; any other version came after.
        """
        mine = self.written.get(key)
        if mine is not None and body["metadata"].get("resourceVersion") == mine[0]:
            return mine[1]
        self.written.pop(key, None)
        return body


@dataclass(frozen=True)
class Turn:
    """What one reconcile did, for the loop to post and to schedule the next one."""

    result: Result
    written: bool  # the decision is recorded (or there was nothing to write)
    conflict: bool = False  # decided on a version that changed meanwhile: not recorded
    unchanged: bool = False  # the decision changed nothing in the status
    write_error: str | None = None
    fenced: bool = False  # a write found the Lease not provably held: nothing more done
    # Recorded after acting: an action failed, or actions succeed again after failures.
    after_acting: Result | None = None

    @property
    def failed(self) -> bool:
        acting = self.after_acting is not None and self.after_acting.failed
        return self.result.failed or acting or bool(self.write_error)


def _record(
    rt: Runtime, key: caches.Key, body: dict[str, Any], result: Result
) -> dict[str, Any] | Written:
    """Write the status decided on `body`; remember what was written (see Runtime.newest)."""
    written = write_status(rt.api, body, result.status.wire())
    if isinstance(written, dict):
        rt.written[key] = (body["metadata"]["resourceVersion"], written)
    return written


def _work(
    rt: Runtime,
    key: caches.Key,
    body: dict[str, Any],
    owned: Owned,
    routes: RouteLookup | None,
    priority: Priority,
    measure: bool,
    fleet: list[Contender],
) -> Turn:
    """In a worker thread: decide, record, then act (reconcile's docstring says why in
    this order); the writes of a rollback or a promotion at their own priority."""
    started, now = time.monotonic(), datetime.now(UTC)
    try:
        adapters = cluster_adapters(
            rt.api, owned, routes, rt.endpoints, rt.slots.view(fleet), rt.query_rates
        )
        result = reconcile(adapters, body, now, measure)
        try:
            with working_at(acting(priority, result.previous, result.status)):
                turn = _record_and_act(rt, key, body, result, now)
        except NotLeading as exc:  # whatever was left undone, the leader's next decision does
            logger.warning("%s/%s: %s; nothing more done", key[0], key[1], exc)
            return Turn(result, written=False, fenced=True)
        _post(rt, key, body, turn)
        return turn
    finally:
        telemetry.RECONCILE_SECONDS.observe(time.monotonic() - started)


def _record_and_act(
    rt: Runtime, key: caches.Key, body: dict[str, Any], result: Result, now: datetime
) -> Turn:
    try:
        written = _record(rt, key, body, result)
    except Exception as exc:  # the loop goes on; the next round writes again
        return Turn(result, written=False, write_error=f"status not written: {exc}")
    if written is Written.CONFLICT:
        return Turn(result, written=False, conflict=True)
    unchanged = written is Written.UNCHANGED
    after = carry_out(result, now)
    if after is None:
        return Turn(result, written=True, unchanged=unchanged)
    if after.conflict:  # recorded, but the world moved: the watch brings what changed
        return Turn(result, written=True, conflict=True)
    recorded_on = written if isinstance(written, dict) else body
    try:
        again = _record(rt, key, recorded_on, after)
    except Exception as exc:
        return Turn(result, written=True, write_error=f"status not written: {exc}")
    return Turn(result, written=True, after_acting=None if again is Written.CONFLICT else after)


def _delay(rt: Runtime, turn: Turn, failures: int) -> float:
    """Seconds until the next reconcile if nothing wakes the loop before."""
    resync = rt.resync_seconds * random.uniform(0.9, 1.0)  # noqa: S311 (spreads resyncs apart)
    if turn.fenced:
        return FENCED_RETRY_SECONDS
    if turn.conflict:
        return 5.0  # the change that caused it is on its way as a watch event
    if failures:
        return float(min(60, 2 ** (failures - 1)))  # also after acting failed
    if turn.result.invalid:
        return min(resync, rt.invalid_recheck_seconds)
    due = turn.result.next_due
    if due is None:
        return resync
    delay = min(resync, max(0.0, (due - datetime.now(UTC)).total_seconds()))
    # A decision that changed nothing decides the same until something changes or time
    # passes: never again at once, whatever is due (a guard against spinning).
    return max(delay, UNCHANGED_RERUN_SECONDS) if turn.unchanged else delay


def _post(rt: Runtime, key: caches.Key, body: dict[str, Any], turn: Turn) -> None:
    """In the worker thread: metrics, logs and Events of a turn (Events are writes, so
    fenced: none once the Lease is not provably held)."""
    namespace, name = key
    if turn.failed:
        telemetry.RECONCILE_ERRORS.inc()
    said: list[Emit] = []
    if turn.write_error is not None:
        logger.error("%s/%s %s", namespace, name, turn.write_error)
        said.append(Emit("Warning", Reason.STATUS_WRITE_FAILED, turn.write_error))
    if turn.written:  # else decided on a status that did not stick: decide again
        result = turn.result
        telemetry.record(namespace, name, result.previous, result.status, result.measurements)
        said += result.events + (turn.after_acting.events if turn.after_acting else [])
        if rt.notifier is not None:  # queued: sent from the notifier's own thread
            wanted = str(((body.get("spec") or {}).get("model") or {}).get("version", ""))
            now = datetime.now(UTC)
            rt.notifier.notify(
                notices(namespace, name, wanted, result.previous, result.status, now)
            )
    for event in said:
        log = logger.warning if event.type == "Warning" else logger.info
        log("%s/%s %s: %s", namespace, name, event.reason, event.message)
        try:
            events.post(rt.api, body, event.type, event.reason, event.message)
        except NotLeading:
            return
        except Exception as exc:  # an Event lost is logged; the decision stands
            why = error_text(exc)  # the API server's message, not its whole answer
            logger.warning("%s/%s: Event %s not posted: %s", namespace, name, event.reason, why)


# On shutdown or deletion a loop finishes the reconcile in hand and exits by itself
# (cancellation_backoff); only one stuck for longer is cancelled.
@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=8.0, cancellation_timeout=2.0)
async def drive(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    **indices: Any,  # kopf passes each index (handlers.caches) by its handler's name
) -> None:
    rt: Runtime = memo.runtime
    key = (body.metadata.namespace or "", body.metadata.name or "")
    wake = rt.wakes.event(key)
    failures = 0
    # A hot standby keeps its caches and decides nothing. Stopped (deleted, or shutting
    # down) while standing by: the route's release is the leader's.
    if not rt.leading.is_set() and not await until_leading(
        rt.leading, stopped, lambda: under_way(rt.newest(key, dict(body)))
    ):
        return
    while not stopped:
        wake.clear()  # anything after this moment wakes the next round
        # kopf swaps in a new body per event and never changes one in place, so the
        # top level is all a snapshot needs to copy.
        current = rt.newest(key, dict(body))
        spec = current.get("spec") or {}
        owned, routes = caches.snapshot(key, spec, indices, rt.pools_watched, rt)
        # In line by urgency; analysis also behind the bulkhead (handlers.workers).
        urgent = urgency(current, datetime.now(UTC))
        status = current.get("status") or {}
        may_start = rt.slots.limits.any() and not (status.get("canary") or status.get("returning"))
        fleet = caches.fleet_snapshot(indices) if may_start else []
        started = asyncio.Event()
        queued = asyncio.ensure_future(
            rt.workers.run(
                urgent.priority,
                key[0] if urgent.measures else None,
                _work,
                *(rt, key, current, owned, routes, urgent.priority, urgent.measures, fleet),
                started=started,
            )
        )

        def more_urgent(was: Priority = urgent.priority) -> bool:
            newest = rt.newest(key, dict(body))
            return urgency(newest, datetime.now(UTC)).priority < was

        if await overtaken(queued, started, wake, more_urgent):
            continue  # more urgent since it was queued: queued again as it now is
        turn = queued.result()
        failures = failures + 1 if turn.failed else 0
        await sleep(wake, stopped, _delay(rt, turn, failures))
    if stopped.reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason:
        # Deleted (kopf's finalizer holds it until we return): its Deployments and
        # Services go with it, but the route is its owner's.
        current = rt.newest(key, dict(body))
        await rt.workers.run(Priority.ROLLBACK, None, _release, rt, key, current)


def _release(rt: Runtime, key: caches.Key, body: dict[str, Any]) -> None:
    try:
        said = release_route(cluster_adapters(rt.api, Owned((), (), ()), None, rt.endpoints), body)
    except NotLeading:
        said = (
            "route not released: the Lease is not provably held (the next leader does not either)"
        )
    except Exception as exc:  # logged; the object goes on being deleted
        said = f"route not released: {error_text(exc)}"
    logger.info("%s/%s deleted: %s", key[0], key[1], said)
    telemetry.forget(*key)  # again: a reconcile in flight at deletion may have recorded
