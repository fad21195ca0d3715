"""When a ModelDeployment next needs a decision although nothing in the cluster changed.

A decision is due again when a timer in its status runs out: the next measurement or
look of the judge, the end of a pause step or of a preview, automatic promotion, a
scale-down, the end of a post-promotion window, or the progress deadline while pods are
short (the only case it acts on); a promotion takes one stage per decision, so after a
stage moves on the next is due at once. Everything else (pods becoming ready, a Service
reaching them, a spec edit, a person's request) arrives as a change to watch, not as a
time: a promotion stage waiting for pods or endpoints is not due again until one comes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import Phase, PromotionStage
from modelrollout.engine.analysis import next_analysis_at
from modelrollout.engine.judge_plan import next_look_at


def next_due(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    now: datetime,
    stage_before: PromotionStage | None = None,
) -> datetime | None:
    """The earliest such moment (never before `now`), or None when only a change can
    bring more work. `stage_before`: the promotion stage this decision started from."""
    times = [next_analysis_at(spec, status), next_look_at(spec, status)]
    times.append(status.post_promotion_until)
    times += [pending.at for pending in status.scale_downs]
    if status.promotion_stage is not None and status.promotion_stage != stage_before:
        times.append(now)
    if _short_of_pods(spec, status):
        times.append(_deadline(spec, status))
    if status.canary is not None and status.promotion_stage is None:
        times += _step_timers(spec, status)
    due = [t for t in times if t is not None]
    return max(min(due), now) if due else None


def _short_of_pods(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> bool:
    """Waiting for the canary's pods, or for a first or changed stable's."""
    if status.canary is not None:
        return status.canary.ready_replicas < status.canary.replicas
    stable = status.stable
    return status.phase == Phase.PROGRESSING and (
        stable is None or stable.ready_replicas < spec.replicas
    )


def _deadline(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    started = status.step_started_at or status.rollout_started_at
    return started + timedelta(seconds=spec.progress_deadline_seconds) if started else None


def _step_timers(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> list[datetime]:
    """The end of the current pause step, or of a blue/green preview's waits."""
    started = status.step_started_at
    if started is None:
        return []
    canary, blue_green = spec.strategy.canary, spec.strategy.blue_green
    durations: list[str | None] = []
    if canary is not None:
        index = status.current_step or 0
        pause = canary.steps[index].pause if index < len(canary.steps) else None
        durations.append(pause.duration if pause is not None else None)
    elif blue_green is not None and status.current_step:
        durations += [blue_green.preview_duration, blue_green.auto_promotion_after]
    return [started + parse_duration(d) for d in durations if d is not None]
