"""How urgent a reconcile is, before it runs and once it has decided (pure).

Before: from the object as the cache holds it, which decides the reconcile's place in
line for a worker thread (handlers.workers) and for the API server's rate limit
(modelrollout.rate_limits), and whether it measures. After deciding, acting on a
rollback or a promotion's traffic move goes ahead of what it was queued as: an
analysis that ends in a rollback is a rollback by the time it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import REQUEST_ANNOTATION, Phase
from modelrollout.engine.model import Request
from modelrollout.metrics.reads import reads_due
from modelrollout.rate_limits import Priority
from modelrollout.reconcile.deciding import parse_request


@dataclass(frozen=True)
class Urgency:
    priority: Priority
    measures: bool = False  # a measurement or a look is due: it queries the provider


def urgency(body: Mapping[str, Any], now: datetime) -> Urgency:
    """A person's request first, and it never waits behind a query (it is decided at
    once; the next reconcile measures). Then a rollback handing pods back, a promotion
    under way, a rollout's next step; measuring; and last a version not yet rolled
    out, which can wait its turn without harm: what serves goes on serving."""
    try:
        spec = ModelDeploymentSpec.model_validate(body.get("spec") or {})
        status = ModelDeploymentStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return Urgency(Priority.ROUTINE)  # decided at once, as InvalidSpec
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if isinstance(parse_request(annotations, status.handled_request, now), Request):
        return Urgency(Priority.REQUEST)
    if status.returning is not None:
        return Urgency(Priority.ROLLBACK)
    if status.promotion_stage is not None:
        return Urgency(Priority.PROMOTION)
    if reads_due(spec, status, now):
        return Urgency(Priority.ANALYSIS, measures=True)
    serving = status.stable.version if status.stable is not None else None
    rolled_back = status.aborted_revision == spec.revision()  # stays so until a retry
    if status.canary is None and spec.model.version != serving and not rolled_back:
        return Urgency(Priority.NEW_ROLLOUT)
    return Urgency(Priority.ROUTINE)


def under_way(body: Mapping[str, Any]) -> bool:
    """Something under way or asked for: a request not yet handled, a canary, a rollback
    handing pods back. Read from the raw object, without parsing it: a standby taking
    the Lease asks it of a thousand objects at once, to let these go first."""
    status = body.get("status") or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if not isinstance(status, Mapping) or not isinstance(annotations, Mapping):
        return True  # decided at once, as InvalidSpec
    asked = annotations.get(REQUEST_ANNOTATION)
    answered = (status.get("handledRequest"), status.get("refusedRequest"))
    return bool(asked and asked not in answered) or any(
        status.get(field) for field in ("canary", "returning", "promotionStage")
    )


def acting(
    before: Priority, previous: ModelDeploymentStatus, decided: ModelDeploymentStatus
) -> Priority:
    """The priority to act on a decision at: raised for a rollback (just decided, or
    handing pods back) and for a promotion's traffic move."""
    rolled_back = decided.phase == Phase.ROLLED_BACK and previous.phase != Phase.ROLLED_BACK
    if rolled_back or decided.returning is not None:
        return min(before, Priority.ROLLBACK)
    if decided.promotion_stage is not None:
        return min(before, Priority.PROMOTION)
    return before
