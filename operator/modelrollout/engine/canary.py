"""A canary in progress: its steps, dispatched through one table of step kinds.

A step function runs when the step is current and the canary is neither short of
pods nor held; a new step kind is one field on CanaryStep and one entry in STEP_KINDS.
"""

from __future__ import annotations

from collections.abc import Callable

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import CanaryStep, CanaryStrategy
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.promotion import begin_promotion, promote
from modelrollout.engine.rollback import wait_for_pods_or_roll_back
from modelrollout.engine.tick import Tick, canary_replicas


def _strategy(t: Tick) -> CanaryStrategy:
    strategy = t.spec.strategy.canary
    assert strategy is not None, "chosen by the strategy table"
    return strategy


def progress(t: Tick) -> None:
    steps = _strategy(t).steps
    index = t.s.current_step or 0
    step = steps[index] if index < len(steps) else None
    target = step.set_weight if step is not None and step.set_weight is not None else 0
    t.canary.replicas = canary_replicas(t.spec.replicas, max(t.canary.weight, target))
    if wait_for_pods_or_roll_back(t, "canary") or t.pause_if_held():
        return
    t.s.phase = Phase.PROGRESSING
    if step is None:
        _finish_steps(t)
        return
    STEP_KINDS[step.kind](t, step, f"step {index + 1}/{len(steps)}")


def _set_weight(t: Tick, step: CanaryStep, label: str) -> None:
    assert step.set_weight is not None
    t.set_weight(step.set_weight)
    t.advance_step()
    t.emit(Reason.STEP_ADVANCED, f"{label}: canary weight {step.set_weight}%")


def _pause(t: Tick, step: CanaryStep, label: str) -> None:
    assert step.pause is not None
    if step.pause.duration is None:
        t.pause(Reason.PAUSE_STEP, f"{label}: waiting for promotion")
        return
    elapsed = t.now - (t.s.step_started_at or t.now)
    if elapsed < parse_duration(step.pause.duration):
        return
    if t.needs_a_pass():
        t.s.message = f"{label}: waiting for a successful measurement"
        return
    t.advance_step()
    t.emit(Reason.STEP_ADVANCED, f"{label}: pause of {step.pause.duration} done")


STEP_KINDS: dict[str, Callable[[Tick, CanaryStep, str], None]] = {
    "setWeight": _set_weight,
    "pause": _pause,
}


def _finish_steps(t: Tick) -> None:
    if t.needs_a_pass():
        t.s.message = "all steps done: waiting for a final successful measurement"
        return
    begin_promotion(t, f"promoting version {t.spec.model.version}", "all steps passed")
    promote(t)


def skip_to_promotion(t: Tick) -> None:
    """A person's full promotion: the remaining steps are skipped."""
    t.s.current_step = len(_strategy(t).steps)
