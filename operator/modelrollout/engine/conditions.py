"""Conditions per Kubernetes API conventions: lastTransitionTime moves only on a change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelrollout.api.status import Condition


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
