"""What people are told of a rollout: derived from one recorded status change (pure).

A notice comes from the difference between the status as read and as written: a
rollout started, paused for a person, queued, promoted or rolled back. Since the
status write is guarded (only on the version decided on, only by the Lease holder),
each change is recorded once in the cluster, so a notice is made once: a new leader
sees it already recorded and makes none. Its `id` is the same whoever makes it, for
receivers that deduplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from modelrollout.api.status import HistoryEntry, ModelDeploymentStatus
from modelrollout.api.vocabulary import Reason

MESSAGE_LIMIT = 1000
# Pauses that wait for a person (an analysis pause lifts by itself).
FOR_A_PERSON = {Reason.PAUSE_STEP, Reason.AWAITING_PROMOTION, Reason.PAUSED_BY_REQUEST}


@dataclass(frozen=True)
class Notice:
    kind: str  # RolloutStarted | Paused | Queued | Promoted | RolledBack
    namespace: str
    name: str
    version: str  # the version rolling out
    from_version: str  # the version serving before
    reason: str
    message: str
    at: datetime

    @property
    def id(self) -> str:
        """The same for the same change, whoever reports it."""
        key = "|".join((self.namespace, self.name, self.kind, self.version, self.at.isoformat()))
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def notices(
    namespace: str,
    name: str,
    wanted: str,
    before: ModelDeploymentStatus,
    after: ModelDeploymentStatus,
    now: datetime,
) -> list[Notice]:
    """The notices of the change from `before` to `after` (`wanted`: the spec's version)."""

    def notice(kind: str, version: str, reason: str, message: str, at: datetime) -> Notice:
        serving = after.stable.version if after.stable else ""
        text = message[:MESSAGE_LIMIT]
        return Notice(kind, namespace, name, version, serving, reason, text, at)

    found: list[Notice] = []
    for entry in _new_history(before, after):
        if entry.outcome in ("Promoted", "RolledBack"):
            reason = after.rollback_reason if entry.outcome == "RolledBack" else None
            at = entry.finished_at or now
            n = notice(entry.outcome, entry.version, reason or entry.outcome, entry.reason, at)
            found.append(replace(n, from_version=entry.from_version))
    canary = after.canary
    if canary is not None and after.rollout_started_at != before.rollout_started_at:
        at = after.rollout_started_at or now
        found.append(notice("RolloutStarted", canary.version, "RolloutStarted", after.message, at))
    if after.queue is not None and before.queue is None:
        found.append(notice("Queued", wanted, Reason.QUEUED, after.message, after.queue.since))
    paused = after.pause_reason in FOR_A_PERSON and after.pause_reason != before.pause_reason
    if paused and canary is not None:
        reason = after.pause_reason or ""
        found.append(notice("Paused", canary.version, reason, after.message, now))
    return found


def _new_history(before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> list[HistoryEntry]:
    seen = {(h.revision, h.finished_at) for h in before.history}
    return [h for h in after.history if (h.revision, h.finished_at) not in seen]
