"""When analysis runs and what it judges (questions only; verdict.py judges the answers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus, RevisionStatus
from modelrollout.engine.promotion import verdict_is_in
from modelrollout.engine.tick import TRAITS


def analysis_target(status: ModelDeploymentStatus) -> RevisionStatus | None:
    """The revision under analysis: the canary or preview, or the new stable while the
    previous one is kept warm after a blue/green switch."""
    if status.canary is not None:
        return status.canary
    return status.stable if status.previous is not None else None


def next_analysis_at(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """When the next measurement is due; None while nothing is judged. A time in the
    past (or the minimum) means now."""
    target = analysis_target(status)
    if spec.analysis is None or not spec.analysis.metrics or target is None:
        return None  # the judge keeps its own time (judge.py)
    # A canary is judged on live traffic; a blue/green preview on whoever calls it.
    judged = target.gets_traffic() or TRAITS[spec.strategy.kind].judged_without_weight
    if status.canary is not None and not judged:
        return None
    if verdict_is_in(status.promotion_stage):
        return None  # traffic is moving over for good
    since = status.analysis.last_run_at or status.step_started_at
    # The first run waits one interval after the weight was set, so its window holds canary traffic.
    if status.analysis.last_run_at is None and status.weight_set_at is not None:
        since = status.weight_set_at
    return (
        datetime.min.replace(tzinfo=UTC)
        if since is None
        else since + spec.analysis.interval_delta()
    )


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Measure the canary only while it is judged, and once per interval."""
    due = next_analysis_at(spec, status)
    return due is not None and now >= due


@dataclass(frozen=True)
class RunPlan:
    """An analysis run to take now: every threshold metric of one revision, over a window."""

    version: str
    revision: str
    window: timedelta


def run_plan(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> RunPlan | None:
    """The run due now, if any."""
    target = analysis_target(status)
    if spec.analysis is None or target is None or not analysis_due(spec, status, now):
        return None
    return RunPlan(target.version, target.revision, spec.analysis.window_delta())
