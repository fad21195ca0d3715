"""Conditions per Kubernetes API conventions: lastTransitionTime moves only on a change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelrollout.api.status import Condition, ModelDeploymentStatus
from modelrollout.api.vocabulary import ConditionType, Phase, Reason


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    text = "True" if status else "False"
    previous = next((c for c in conditions if c.type == type_), None)
    since = previous.last_transition_time if previous and previous.status == text else now
    updated = Condition(
        type=type_,
        status=text,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=since,
    )
    return [c for c in conditions if c.type != type_] + [updated]


def condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def status_conditions(
    s: ModelDeploymentStatus, replicas: int, generation: int | None, now: datetime
) -> list[Condition]:
    """Ready, Progressing, Paused and RolledBack, as the status says."""
    c, stable = s.conditions, s.stable
    ready = stable is not None and stable.ready_replicas >= replicas
    c = set_condition(
        c,
        ConditionType.READY,
        ready,
        Reason.AVAILABLE if ready else Reason.NOT_AVAILABLE,
        f"{stable.ready_replicas if stable else 0}/{replicas} stable pods ready",
        generation,
        now,
    )
    rolling = s.canary is not None or s.phase == Phase.PROGRESSING
    idle = Reason.PROGRESS_DEADLINE_EXCEEDED if s.phase == Phase.DEGRADED else Reason.STABLE
    c = set_condition(
        c,
        ConditionType.PROGRESSING,
        rolling,
        Reason.ROLLOUT_STARTED if rolling else idle,
        s.message if rolling else "no rollout in progress",
        generation,
        now,
    )
    paused = s.phase == Phase.PAUSED
    c = set_condition(
        c,
        ConditionType.PAUSED,
        paused,
        (s.pause_reason or Reason.PAUSED_BY_SPEC) if paused else Reason.RESUMED,
        s.message if paused else "",
        generation,
        now,
    )
    rolled_back = s.phase == Phase.ROLLED_BACK
    last = s.history[0] if s.history else None
    return set_condition(
        c,
        ConditionType.ROLLED_BACK,
        rolled_back,
        (s.rollback_reason or Reason.ANALYSIS_FAILED) if rolled_back else Reason.STABLE,
        last.reason if rolled_back and last else "",
        generation,
        now,
    )
