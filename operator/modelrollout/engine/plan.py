"""A plan edited mid-rollout: recorded as a digest, followed from a safe place.

The status keeps the step the rollout is at as an index into the spec's steps, so a
person who edits the steps (to slow a rollout down, say) changes what that index means;
an index past the new list's end would promote at once. So the status also keeps a
digest of the plan (the strategy's kind and its steps), and when the spec's differs:

- the same strategy (a canary's steps changed): the canary keeps its weight and the
  rollout resumes at the first step whose weight is not below it (the weight a step
  runs at is the last setWeight at or before it); a mirror or header route of the old
  plan ends there, and a later step of the new plan sets them again;
- no step keeps the canary's weight, or the strategy itself changed: the rollout
  restarts from the first step with the canary back to no live traffic.

Either way the step starts now (its timers and counts start again), a person's wait
of the old plan (`pause: {}`) is lifted, and a promotion already under way goes on.
"""

from __future__ import annotations

import hashlib
import json

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.vocabulary import Reason
from modelrollout.engine.tick import Tick


def plan_digest(spec: ModelDeploymentSpec) -> str:
    strategy = spec.strategy
    steps = strategy.canary.steps if strategy.canary is not None else []
    plan = {"kind": strategy.kind, "steps": [s.model_dump(mode="json") for s in steps]}
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


def resume_at(spec: ModelDeploymentSpec, weight: int) -> int | None:
    """The first step of the spec's canary whose weight is not below `weight` (None:
    no step keeps it)."""
    assert spec.strategy.canary is not None
    running = 0
    for index, step in enumerate(spec.strategy.canary.steps):
        running = step.set_weight if step.set_weight is not None else running
        if running >= weight:
            return index
    return None


def follow_plan(t: Tick) -> None:
    """Record the plan a rollout follows; move to a safe step when it changed."""
    digest, recorded = plan_digest(t.spec), t.s.plan
    t.s.plan = digest
    canary = t.spec.strategy.canary
    steps = canary.steps if canary is not None else []
    # An index past the end, from a status written before plans were kept.
    beyond = canary is not None and (t.s.current_step or 0) > len(steps)
    if (recorded in (None, digest) and not beyond) or t.s.promotion_stage is not None:
        return
    stepped, weight = bool(steps), t.canary.weight
    index = resume_at(t.spec, weight) if stepped else None
    t.set_mirror(0)
    t.set_header_route(())
    if index is None:
        t.set_weight(0)
        said = "restarting from step 1 with no live traffic on the canary: " + (
            f"no step of the new plan keeps its {weight}% weight"
            if stepped
            else "the strategy changed"
        )
    else:
        said = (
            f"resuming at step {index + 1}/{len(steps)}, the first whose weight is not "
            f"below the canary's {weight}%"
        )
    t.s.current_step = index or 0
    t.s.step_started_at = t.now
    t.s.analysis.step_successes = 0
    if t.s.analysis.judge is not None:
        t.s.analysis.judge.step_requests = 0
    if t.s.pause_reason in (Reason.PAUSE_STEP, Reason.AWAITING_PROMOTION):
        t.resume()
    t.emit(Reason.PLAN_CHANGED, f"the rollout's plan changed: {said}")
