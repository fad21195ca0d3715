"""The operator's rollout slots: who may start a rollout now (engine.queue decides), one
decision at a time.

The line lives in the cluster: each ModelDeployment's status says whether it holds a
slot (a rollout in progress, or traffic being handed back) and since when it waits
(`status.queue.since`), and a kopf index of ModelDeployments (handlers.caches.fleet)
holds them all before any loop starts. What the index cannot know yet is a decision
of a moment ago whose status write has not come back through the watch: this process
remembers a slot it gave (`_given`), so two loops deciding at once never take the last
slot twice, and a place in line it gave (`_lined`), so the next in line counts it,
until the watch shows them. When the line moves (a slot freed, or a waiting rollout
started or left), every waiting loop is woken to say its new place.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from modelrollout.engine.model import Decision, Slot
from modelrollout.engine.queue import Contender, Key, Limits, admit
from modelrollout.reconcile.ports import NO_LIMITS, SlotsPort

# A slot given here counts until the watch shows it taken, or this long at most (a
# decision whose status write failed does not keep it forever).
GIVEN_SECONDS = 120.0


def contender(body: Mapping[str, Any]) -> Contender:
    """A ModelDeployment as the slots see it (for the fleet index)."""
    meta, status = body["metadata"], body.get("status") or {}
    queue = status.get("queue") or {}
    since = queue.get("since")
    invalid = any(
        c.get("type") == "InvalidSpec" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    # Being deleted, its rollout is over: its slot is free as soon as the deletion is
    # seen, not when its finalizer is gone (an operator that was down, or busy).
    deleting = bool(meta.get("deletionTimestamp"))
    if invalid or deleting:  # it cannot start (until its spec is fixed): it holds no place
        since = None
    return Contender(
        (meta.get("namespace") or "", meta["name"]),
        dict(meta.get("labels") or {}),
        holding=bool(status.get("canary") or status.get("returning")) and not deleting,
        since=datetime.fromisoformat(since) if isinstance(since, str) else None,
    )


class RolloutSlots:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._given: dict[Key, tuple[float, Contender]] = {}  # given at, to whom
        self._lined: dict[Key, tuple[float, Contender]] = {}  # queued at, who (waiting)
        self._holding: set[Key] = set()  # as the watch last said
        self._waiting: set[Key] = set()

    def view(self, fleet: Sequence[Contender]) -> SlotsPort:
        """The slots as a reconcile sees them, with the fleet as the caches held it."""
        return _View(self, fleet) if self.limits.any() else NO_LIMITS

    def seen(self, c: Contender) -> list[Key]:
        """A ModelDeployment as the watch delivered it (on the event loop): the waiting
        loops to wake, when the line moved (it freed a slot, or left the line)."""
        if not self.limits.any():
            return []
        with self._lock:
            freed = c.key in self._holding and not c.holding
            left = c.key in self._waiting and c.since is None
            (self._holding.add if c.holding else self._holding.discard)(c.key)
            (self._waiting.add if c.since is not None else self._waiting.discard)(c.key)
            return sorted(self._waiting) if freed or left else []

    def forget(self, key: Key) -> list[Key]:
        """Deleted: a slot it held is free."""
        with self._lock:
            freed = key in self._holding
            self._holding.discard(key)
            self._given.pop(key, None)
            self._lined.pop(key, None)
            left = key in self._waiting
            self._waiting.discard(key)
            return sorted(self._waiting) if freed or left else []

    def _decide(
        self, fleet: Sequence[Contender], me: Contender, decide: Callable[[Slot | None], Decision]
    ) -> Decision:
        with self._lock:
            now = self._clock()
            shown = {c.key for c in fleet if c.holding}
            lined = {c.key for c in fleet if c.since is not None}
            self._given = _fresh(self._given, shown, now)
            self._lined = _fresh(self._lined, lined | shown, now)
            known = {k: c for k, (_, c) in self._lined.items()}
            known |= {k: replace(c, holding=True) for k, (_, c) in self._given.items()}
            counted = [known.pop(c.key, c) for c in fleet] + list(known.values())
            asking = replace(me, since=me.since or datetime.now(UTC))
            if me.key in self._given:
                slot = Slot(granted=True)  # given already; its status is on its way
            else:
                slot = admit(counted, self.limits, asking)
            decision = decide(slot)
            self._given.pop(me.key, None)
            self._lined.pop(me.key, None)
            if slot.granted and decision.status.canary is not None:
                self._given[me.key] = (now, asking)
            elif decision.status.queue is not None:
                self._lined[me.key] = (now, replace(asking, since=decision.status.queue.since))
            return decision


def _fresh(
    kept: dict[Key, tuple[float, Contender]], shown: set[Key], now: float
) -> dict[Key, tuple[float, Contender]]:
    """What the watch does not show yet, and not for longer than GIVEN_SECONDS."""
    return {
        key: (at, c)
        for key, (at, c) in kept.items()
        if key not in shown and now - at < GIVEN_SECONDS
    }


class _View:
    def __init__(self, slots: RolloutSlots, fleet: Sequence[Contender]) -> None:
        self._slots, self._fleet = slots, fleet

    def decide(self, me: Contender, decide: Callable[[Slot | None], Decision]) -> Decision:
        return self._slots._decide(self._fleet, me, decide)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-rollouts",
        type=int,
        default=0,
        metavar="N",
        help="rollouts in progress at once, in all (default 0: no limit); the others "
        "wait in line (Pending, reason Queued); rollbacks and aborts never wait",
    )
    parser.add_argument(
        "--max-rollouts-per-namespace",
        type=int,
        default=0,
        metavar="N",
        help="rollouts in progress at once in one namespace (default 0: no limit)",
    )
    parser.add_argument(
        "--max-rollouts-per-label",
        action="append",
        default=[],
        metavar="KEY=N",
        help="rollouts in progress at once among ModelDeployments with the same value of "
        "label KEY, e.g. modelrollout.io/pool=2 (repeatable)",
    )


def parse_limits(overall: int, per_namespace: int, per_label: Sequence[str]) -> Limits:
    """From the command line: 0 is no limit; a per-label limit is KEY=N."""
    if overall < 0 or per_namespace < 0:
        raise ValueError("--max-rollouts and --max-rollouts-per-namespace are at least 0")
    labels: dict[str, int] = {}
    for item in per_label:
        key, _, count = item.rpartition("=")
        if not key or not count.isdigit() or int(count) < 1:
            raise ValueError(f"--max-rollouts-per-label: {item!r} is not KEY=N (N at least 1)")
        labels[key] = int(count)
    return Limits(overall or None, per_namespace or None, labels)
