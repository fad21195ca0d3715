"""Analysis rules: when a measurement is due, how values are judged, and what a run adds up to."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import Measurement, ModelDeploymentStatus, RevisionStatus
from modelrollout.api.vocabulary import Outcome

# A failed metric outweighs an unreachable Prometheus; missing data never counts as a pass.
_SEVERITY = [Outcome.FAILED, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.SUCCESSFUL]


def judge(value: float, minimum: float | None, maximum: float | None) -> tuple[Outcome, str]:
    """Successful when value lies within [minimum, maximum]; NaN is Inconclusive."""
    if math.isnan(value) or math.isinf(value):
        return Outcome.INCONCLUSIVE, f"value is {value}: no data to judge"
    if maximum is not None and value > maximum:
        return Outcome.FAILED, f"{value:.6g} is above the maximum {maximum:.6g}"
    if minimum is not None and value < minimum:
        return Outcome.FAILED, f"{value:.6g} is below the minimum {minimum:.6g}"
    return Outcome.SUCCESSFUL, f"{value:.6g} is within bounds"


def run_outcome(measurements: Sequence[Measurement]) -> Outcome:
    """The outcome of one run of all metrics: the most severe of its measurements."""
    if not measurements:
        return Outcome.INCONCLUSIVE
    return min((m.outcome for m in measurements), key=_SEVERITY.index)


def analysis_target(status: ModelDeploymentStatus) -> RevisionStatus | None:
    """The revision under analysis: the canary or preview, or the new stable while the
    previous one is kept warm after a blue/green switch."""
    if status.canary is not None:
        return status.canary
    return status.stable if status.previous is not None else None


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Measure the canary only while it takes live traffic, and once per interval."""
    target = analysis_target(status)
    if spec.analysis is None or target is None:
        return False
    # A canary is judged on live traffic; a blue/green preview on whoever calls it.
    if status.canary is not None and status.canary.weight == 0 and spec.strategy.canary:
        return False
    if status.promotion_stage is not None and status.promotion_stage >= 1:
        return False  # traffic is moving over for good; the verdict is in
    interval = spec.analysis.interval_delta()
    since = status.analysis.last_run_at or status.step_started_at
    # The first run waits one interval after the weight was set, so its window holds canary traffic.
    if status.analysis.last_run_at is None and status.weight_set_at is not None:
        since = status.weight_set_at
    return since is None or now - since >= interval
