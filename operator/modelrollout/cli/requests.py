"""Which manual request makes sense in which state: the plugin refuses the others clearly."""

from __future__ import annotations

from modelrollout.api.status import HistoryEntry, ModelDeploymentStatus
from modelrollout.api.vocabulary import Phase
from modelrollout.engine.model import RequestAction


def refusal(action: RequestAction, status: ModelDeploymentStatus) -> str | None:
    """Why `action` makes no sense now, or None when it does."""
    rolling = status.canary is not None
    if action == "retry":
        if status.phase != Phase.ROLLED_BACK or status.aborted_revision is None:
            return f"nothing to retry: the phase is {status.phase.value}, not RolledBack"
        return None
    if not rolling:
        return f"no rollout in progress (phase {status.phase.value})"
    if action == "resume" and status.phase != Phase.PAUSED:
        return f"the rollout is not paused (phase {status.phase.value})"
    if action == "pause" and status.phase == Phase.PAUSED:
        return "the rollout is already paused"
    return None


def undo_target(status: ModelDeploymentStatus) -> HistoryEntry:
    """The last promotion: undo goes back to the stable revision it started from."""
    for entry in status.history:
        if entry.outcome == "Promoted" and entry.from_revision:
            return entry
    raise LookupError("nothing to undo: no promotion in the history")
