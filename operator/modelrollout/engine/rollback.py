"""Rolling back: the canary loses its traffic, or a blue/green switch goes back."""

from __future__ import annotations

from datetime import timedelta

from modelrollout.api.durations import parse_duration
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.budgeted import start_hand_back
from modelrollout.engine.tick import Tick


def roll_back(t: Tick, reason: str, message: str) -> None:
    """Stop the rollout for good (until the spec changes or a retry): traffic back to the
    serving version at once, the new revision scaled down after abortScaleDownDelay."""
    delay = parse_duration(t.spec.strategy.abort_scale_down_delay())
    if t.s.canary is None:
        _switch_back(t, reason, message, delay)
        return
    canary = t.canary
    leaving = canary.model_copy()
    t.set_weight(0)
    start_hand_back(t, leaving)
    t.schedule_scale_down(canary.revision, delay)
    t.record("RolledBack", message)
    t.s.aborted_revision = canary.revision
    t.end_rollout()
    t.s.phase = Phase.ROLLED_BACK
    t.s.rollback_reason = reason
    t.emit(reason, f"rolled back: {message}", warning=True)


def _switch_back(t: Tick, reason: str, message: str, delay: timedelta) -> None:
    """Post-promotion failure: the stable Service goes back to the warm previous pods."""
    new, old = t.stable, t.s.previous
    assert old is not None, "a rollback without a canary happens only after a switch"
    t.record("RolledBack", message, rolled=new, base=old)
    t.s.stable = old.model_copy(update={"weight": 100, "replicas": t.spec.replicas})
    t.s.previous = None
    t.s.post_promotion_until = None
    t.schedule_scale_down(new.revision, delay)
    t.s.aborted_revision = new.revision
    t.s.phase = Phase.ROLLED_BACK
    t.s.rollback_reason = reason
    t.emit(reason, f"rolled back after the switch: {message}", warning=True)


def wait_for_pods_or_roll_back(t: Tick, what: str, *, promoting: bool = False) -> bool:
    """False when the canary has its pods. Otherwise True: rolled back at the progress
    deadline, or waiting with a message (a promotion is not held by pauses)."""
    canary = t.canary
    if not t.canary_short_of_pods():
        return False
    ready = f"{canary.ready_replicas}/{canary.replicas} ready"
    if t.deadline_passed():
        roll_back(
            t,
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            f"{what} of version {canary.version} not ready after "
            f"{t.spec.progress_deadline_seconds}s ({ready})",
        )
    elif promoting or not t.pause_if_held():
        t.s.phase = Phase.PROGRESSING
        t.s.message = f"{what}: {ready} (Ready and behind its Service)"
    return True
