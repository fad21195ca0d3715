"""A canary in progress: its steps, dispatched through one table of step kinds.

A step function runs when the step is current and the canary is neither short of
pods nor held; a new step kind is one field on CanaryStep and one row in STEP_KINDS,
saying what it does, the share of live traffic the canary's pods must be sized for,
and what it needs from the router.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import CanaryStep, CanaryStrategy
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.budgeted import expressible, resize
from modelrollout.engine.model import RouteFeature
from modelrollout.engine.promotion import begin_promotion, promote, route_state
from modelrollout.engine.rollback import wait_for_pods_or_roll_back
from modelrollout.engine.tick import Tick


def _strategy(t: Tick) -> CanaryStrategy:
    strategy = t.spec.strategy.canary
    assert strategy is not None, "chosen by the strategy table"
    return strategy


def progress(t: Tick) -> None:
    steps = _strategy(t).steps
    index = t.s.current_step or 0
    step = steps[index] if index < len(steps) else None
    # Sized for the largest share of the total it got or gets once this step is taken
    # (mirrored copies count as load): a mirror ending at a lower weight keeps its
    # loaded pods, which promotion needs again, instead of loading the model anew. An
    # autoscaler changing the total resizes it.
    taken = [STEP_KINDS[s.kind].share(s) for s in steps[: index + 1]]
    share = max(t.canary.weight, t.canary.mirror, *taken)
    goal = step.set_weight if step is not None and step.set_weight is not None else None
    resize(t, share, goal if goal is not None else t.canary.weight)
    if wait_for_pods_or_roll_back(t, "canary") or t.pause_if_held():
        return
    t.s.phase = Phase.PROGRESSING
    if not t.obs.route_carried:  # a step is done only once the route carries it
        t.s.message = f"waiting for the route to carry {route_state(t.s).describe()}"
        return
    if step is None:
        _finish_steps(t)
        return
    kind, label = STEP_KINDS[step.kind], f"step {index + 1}/{len(steps)}"
    stale = t.stale_evidence() if kind.forward(t, step) else None
    if stale:
        t.s.message = f"{label}: waiting for {stale}"
        return
    kind.run(t, step, label)


def _set_weight(t: Tick, step: CanaryStep, label: str) -> None:
    assert step.set_weight is not None
    weight = expressible(t, step.set_weight)
    if t.weight_allowed < weight:
        _move_within_budget(t, weight, label)
        return
    ended = " (the mirror ends)" if weight > 0 and t.canary.mirror else ""
    if weight != step.set_weight:  # replica ratio: whole pods
        ended += f" (setWeight {step.set_weight} in whole pods of {t.spec.replicas})"
    t.set_weight(weight)
    if weight > 0:
        t.set_mirror(0)  # users now get the canary's answers: no more copies
    t.advance_step()
    t.emit(Reason.STEP_ADVANCED, f"{label}: canary weight {weight}%{ended}")


def _move_within_budget(t: Tick, goal: int, label: str) -> None:
    """Part of the step's weight: as much as the canary's ready pods carry within the
    capacity budget (the step ends once all of it is carried)."""
    canary, allowed = t.canary, t.weight_allowed
    pods = f"{canary.ready_replicas} canary and {t.stable.replicas} stable pods"
    if allowed <= canary.weight:
        said = f"canary weight {canary.weight}% of {goal}%: moving pod by pod within the budget"
        t.s.message = f"{label}: {said} ({pods})"
        return
    t.set_weight(allowed)
    if allowed > 0:
        t.set_mirror(0)
    t.s.step_started_at = t.now  # progress: the deadline counts from here
    t.emit(Reason.WEIGHT_MOVED, f"{label}: canary weight {allowed}% of {goal}%, {pods}")


def _mirror(t: Tick, step: CanaryStep, label: str) -> None:
    assert step.mirror is not None
    percent = step.mirror.percent
    t.set_mirror(percent)
    t.advance_step()
    said = (
        f"{percent}% of live requests mirrored to the canary (users are answered by stable)"
        if percent
        else "mirror ended"
    )
    t.emit(Reason.STEP_ADVANCED, f"{label}: {said}")


def _header_route(t: Tick, step: CanaryStep, label: str) -> None:
    assert step.header_route is not None
    headers = step.header_route.headers()
    t.set_header_route(headers)
    t.advance_step()
    matching = " and ".join(h.describe() for h in headers)
    said = f"requests with {matching} go to the canary" if headers else "header route ended"
    t.emit(Reason.STEP_ADVANCED, f"{label}: {said}")


def _pause(t: Tick, step: CanaryStep, label: str) -> None:
    assert step.pause is not None
    if step.pause.duration is None:
        t.pause(Reason.PAUSE_STEP, f"{label}: waiting for promotion")
        return
    elapsed = t.now - (t.s.step_started_at or t.now)
    if elapsed < parse_duration(step.pause.duration):
        return
    pending = t.pending_verdict()
    if pending:
        t.s.message = f"{label}: waiting for {pending}"
        return
    judge = t.s.analysis.judge
    said = f" (the judge: {judge.message})" if judge is not None and judge.message else ""
    t.advance_step()
    t.emit(Reason.STEP_ADVANCED, f"{label}: pause of {step.pause.duration} done{said}")


def _more_weight(t: Tick, step: CanaryStep) -> bool:
    return expressible(t, step.set_weight or 0) > t.canary.weight


def _more_mirror(t: Tick, step: CanaryStep) -> bool:
    return (step.mirror.percent if step.mirror else 0) > t.canary.mirror


def _new_header_route(t: Tick, step: CanaryStep) -> bool:
    headers = step.header_route.headers() if step.header_route else ()
    return bool(headers) and headers != tuple(t.canary.header_route)


@dataclass(frozen=True)
class StepKind:
    run: Callable[[Tick, CanaryStep, str], None]
    # Percent of live traffic the canary receives once the step is taken (for sizing).
    share: Callable[[CanaryStep], int]
    # What the router must support for it (None: nothing of the route).
    needs: RouteFeature | None
    # Taking it gives the canary more live traffic: only on fresh evidence (a pause's
    # end is judged by Tick.pending_verdict instead).
    forward: Callable[[Tick, CanaryStep], bool]


STEP_KINDS: dict[str, StepKind] = {
    "setWeight": StepKind(_set_weight, lambda s: s.set_weight or 0, "weights", _more_weight),
    "pause": StepKind(_pause, lambda _: 0, None, lambda _t, _s: False),
    "mirror": StepKind(
        _mirror, lambda s: s.mirror.percent if s.mirror else 0, "mirror", _more_mirror
    ),
    "headerRoute": StepKind(_header_route, lambda _: 0, "headerRoute", _new_header_route),
}


def _finish_steps(t: Tick) -> None:
    pending = t.pending_verdict()
    if pending:
        t.s.message = f"all steps done: waiting for {pending}"
        return
    begin_promotion(t, f"promoting version {t.spec.model.version}", "all steps passed")
    promote(t)


def skip_to_promotion(t: Tick) -> None:
    """A person's full promotion: the remaining steps are skipped."""
    t.s.current_step = len(_strategy(t).steps)
