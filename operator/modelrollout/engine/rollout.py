"""The rollout state machine: (spec, status, observations, now) -> (next status, actions).

Level-triggered: every decision re-asserts the whole desired state (revisions, Services,
route), so a process that died between acting and recording just does it again.
Only facts that cannot be re-derived (step, timers, counters, history) live in status.

A decision handles a person's request first, then picks the situation once (first
deployment, steady state, standing rollback, or a rollout of the chosen strategy)
and hands the tick to that situation's module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.engine import blue_green, canary, lifecycle
from modelrollout.engine.budgeted import hand_back
from modelrollout.engine.conditions import status_conditions
from modelrollout.engine.desired import assert_workloads, collect_garbage, due_scale_downs
from modelrollout.engine.judge import apply_look
from modelrollout.engine.model import Decision, Observations
from modelrollout.engine.plan import follow_plan
from modelrollout.engine.promotion import promote
from modelrollout.engine.requests import handle_request
from modelrollout.engine.schedule import next_due
from modelrollout.engine.tick import Tick
from modelrollout.engine.verdict import apply_run


class Situation(Enum):
    FIRST_DEPLOYMENT = "first deployment"
    STEADY = "steady"
    ROLLED_BACK = "rolled back"
    ROLLOUT = "rollout"


def situation(t: Tick) -> Situation:
    """Where the spec's revision stands against the status (a question: changes nothing)."""
    stable = t.s.stable
    if stable is None or (stable.ready_replicas == 0 and t.s.canary is None and not t.s.history):
        return Situation.FIRST_DEPLOYMENT
    if t.revision == stable.revision:
        return Situation.STEADY
    if t.revision == t.s.aborted_revision:
        return Situation.ROLLED_BACK
    return Situation.ROLLOUT


# Each strategy's own rules, between the shared start and promotion of a rollout.
STRATEGIES: dict[str, Callable[[Tick], None]] = {
    "canary": canary.progress,
    "blueGreen": blue_green.progress,
}


def roll_out(t: Tick) -> None:
    if t.s.canary is None and t.s.returning is not None:
        t.observe(t.stable)  # hand_back sizes both; the rollout starts once it is done
        t.s.message = f"waiting for version {t.s.returning.version} to hand traffic back"
        return
    if t.s.canary is None:
        if lifecycle.wait_for_slot(t):
            return
        lifecycle.start_rollout(t)
    follow_plan(t)
    t.observe(t.stable)
    t.observe(t.canary)
    if apply_run(t, t.obs.measurements) or apply_look(t, t.obs.judge):
        return  # rolled back
    if t.s.promotion_stage is not None:
        promote(t)
        return
    STRATEGIES[t.spec.strategy.kind](t)


SITUATIONS: dict[Situation, Callable[[Tick], None]] = {
    Situation.FIRST_DEPLOYMENT: lifecycle.deploy_directly,
    Situation.STEADY: lifecycle.steady,
    Situation.ROLLED_BACK: lifecycle.stay_rolled_back,
    Situation.ROLLOUT: roll_out,
}


def decide(
    spec: ModelDeploymentSpec,
    generation: int | None,
    status: ModelDeploymentStatus,
    obs: Observations,
    now: datetime,
) -> Decision:
    """The next status and the actions that make the cluster match it."""
    t = Tick(spec, generation, status, obs, now)
    handle_request(t)
    if t.s.canary is not None and t.s.canary.revision != t.revision:
        lifecycle.supersede(t)
    SITUATIONS[situation(t)](t)
    hand_back(t)
    if obs.route_empty_filters is not None:  # the owner's route, seen without our mirror
        t.s.route_empty_filters = list(obs.route_empty_filters)
    assert_workloads(t)
    due_scale_downs(t)
    collect_garbage(t)
    t.s.conditions = status_conditions(t.s, spec.replicas, generation, now)
    t.s.observed_generation = generation
    return Decision(t.s, tuple(t.actions), next_due(spec, t.s, now, status.promotion_stage))
