"""The situations around a rollout: a first deployment, the steady state, a standing
rollback, a rollout superseded mid-way, and the start of a new one."""

from __future__ import annotations

from datetime import timedelta

from modelrollout.api.status import AnalysisStatus, QueueStatus, RevisionStatus
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.blue_green import watch_after_switch
from modelrollout.engine.budgeted import reclaim, start_hand_back
from modelrollout.engine.tick import Tick


def deploy_directly(t: Tick) -> None:
    """First deployment (or replacing one that never served): no canary, no analysis."""
    previous = t.s.stable
    if previous is None or previous.revision != t.revision:
        if previous is not None:
            t.schedule_scale_down(previous.revision, timedelta(0))
        t.s.stable = RevisionStatus(
            version=t.spec.model.version, revision=t.revision, digest=t.digest, weight=100
        )
        t.s.step_started_at = t.now
        t.s.phase = Phase.PROGRESSING
        t.emit(Reason.FIRST_DEPLOYMENT, f"deploying version {t.spec.model.version}")
    steady(t)


def steady(t: Tick) -> None:
    """The spec's revision is stable: keep it at full size, all traffic on it."""
    stable, replicas = t.stable, t.spec.replicas
    stable.version = t.spec.model.version
    stable.replicas = replicas
    stable.weight = 100
    t.observe(stable)
    if t.s.previous is not None and watch_after_switch(t):
        return
    t.s.aborted_revision = None  # the spec is back on the stable version: moved on
    t.s.queue = None
    if stable.ready_replicas >= replicas:
        if t.s.phase != Phase.HEALTHY:
            t.s.phase = Phase.HEALTHY
            t.s.step_started_at = None
            t.emit(
                Reason.AVAILABLE,
                f"version {stable.version} is serving: {stable.ready_replicas}/{replicas} ready",
            )
    elif t.s.phase == Phase.PROGRESSING and t.deadline_passed():
        t.s.phase = Phase.DEGRADED
        t.emit(
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            f"version {stable.version} not ready after {t.spec.progress_deadline_seconds}s: "
            f"{stable.ready_replicas}/{replicas} ready",
            warning=True,
        )
    elif t.s.phase == Phase.HEALTHY:
        t.s.phase = Phase.PROGRESSING
        t.s.step_started_at = t.now


def stay_rolled_back(t: Tick) -> None:
    t.s.queue = None
    stable = t.stable
    stable.replicas = t.spec.replicas
    stable.weight = 100
    t.observe(stable)
    t.s.phase = Phase.ROLLED_BACK


def supersede(t: Tick) -> None:
    """A newer revision arrived mid-rollout: the old canary loses its traffic at once."""
    canary = t.canary
    leaving = canary.model_copy()
    t.set_weight(0)
    start_hand_back(t, leaving)
    t.schedule_scale_down(canary.revision, timedelta(0))
    t.record("Superseded", f"superseded by version {t.spec.model.version}")
    t.emit(
        Reason.SUPERSEDED,
        f"version {canary.version} superseded by {t.spec.model.version} mid-rollout; "
        "it gets no more traffic",
    )
    t.end_rollout()


def wait_for_slot(t: Tick) -> bool:
    """True while the rollout about to start waits for a slot (the operator's limits of
    rollouts at once): Pending, Queued, in line since it first asked (a newer version
    keeps the place). Stable serves meanwhile, at full size."""
    slot = t.obs.slot
    if slot is None or slot.granted:
        return False
    first = t.s.queue is None
    since = t.s.queue.since if t.s.queue is not None else t.now
    t.s.queue = QueueStatus(
        since=since, position=slot.position, limit=slot.limit, held_by=list(slot.held_by)
    )
    t.stable.replicas, t.stable.weight = t.spec.replicas, 100
    t.observe(t.stable)
    t.s.phase = Phase.PENDING
    holders = f"; held by {', '.join(slot.held_by)}" if slot.held_by else ""
    said = f"version {t.spec.model.version} queued: #{slot.position} in line for a slot "
    said += f"({slot.limit}{holders})"
    if first:
        t.emit(Reason.QUEUED, said)
    t.s.message = said
    return True


def start_rollout(t: Tick) -> None:
    t.end_rollout()  # a clean slate: no step, timer or promotion of an earlier rollout
    t.s.canary = RevisionStatus(version=t.spec.model.version, revision=t.revision, digest=t.digest)
    # A newer version ends a post-promotion window early; its scale-down stays scheduled.
    t.s.previous = None
    t.s.post_promotion_until = None
    t.s.scale_downs = [d for d in t.s.scale_downs if d.revision != t.revision]
    t.s.queue = None
    reclaim(t)
    t.s.current_step = 0
    t.s.step_started_at = t.now
    t.s.rollout_started_at = t.now
    t.s.aborted_revision = None
    t.s.rollback_reason = None
    t.s.analysis = AnalysisStatus()
    t.s.phase = Phase.PROGRESSING
    t.emit(
        Reason.ROLLOUT_STARTED,
        f"rolling out version {t.spec.model.version} over {t.stable.version}",
    )
