"""When the next decision is due with nothing changing in the cluster, phase by phase."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sim import T0, healthy_world, measurement, spec

from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import Outcome, Phase, PromotionStage
from modelrollout.engine.schedule import next_due

S = timedelta(seconds=1)
STABLE = {"version": "1.0.0", "revision": "a", "weight": 100, "replicas": 4, "readyReplicas": 4}
CANARY = {"version": "2.0.0", "revision": "b", "replicas": 1, "readyReplicas": 1}
BLUE_GREEN = {
    "strategy": {"blueGreen": {"previewDuration": "1m", "autoPromotionAfter": "5m"}},
    "traffic": None,
}


def status(**fields: Any) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate({"stable": STABLE, **fields})


CASES: list[tuple[str, dict[str, Any], dict[str, Any], timedelta | None]] = [
    ("pending: nothing until a change", {}, {"phase": "Pending"}, None),
    ("healthy: nothing until a change", {}, {"phase": "Healthy"}, None),
    (
        "degraded (stable pods lost): their return is a change, not a time",
        {},
        {"phase": "Degraded", "stable": {**STABLE, "readyReplicas": 1}},
        None,
    ),
    (
        "healthy, an old revision to scale down",
        {},
        {"phase": "Healthy", "scaleDowns": [{"revision": "z", "at": T0 + 30 * S}]},
        30 * S,
    ),
    (
        "first deployment not ready yet: its progress deadline",
        {},
        {"phase": "Progressing", "stepStartedAt": T0, "stable": {**STABLE, "readyReplicas": 1}},
        1800 * S,
    ),
    ("rolled back: nothing until a change", {}, {"phase": "RolledBack"}, None),
    (
        "canary at 0% waiting for pods: the progress deadline",
        {},
        {
            "phase": "Progressing",
            "canary": {**CANARY, "weight": 0, "readyReplicas": 0},
            "currentStep": 0,
            "stepStartedAt": T0,
            "rolloutStartedAt": T0,
        },
        1800 * S,
    ),
    (
        "canary at 10%: the first measurement, an interval after the weight was set",
        {},
        {
            "phase": "Progressing",
            "canary": {**CANARY, "weight": 10},
            "currentStep": 1,
            "stepStartedAt": T0,
            "weightSetAt": T0,
        },
        30 * S,
    ),
    (
        "pause step of 1m, 45s in, measured 5s ago: the pause ends before the next run",
        {},
        {
            "phase": "Progressing",
            "canary": {**CANARY, "weight": 10},
            "currentStep": 1,
            "stepStartedAt": T0 - 45 * S,
            "weightSetAt": T0 - 45 * S,
            "analysis": {"lastRunAt": T0 - 5 * S},
        },
        15 * S,
    ),
    (
        "pause step of 1m without analysis: its end",
        {"analysis": None},
        {
            "phase": "Progressing",
            "canary": {**CANARY, "weight": 10},
            "currentStep": 1,
            "stepStartedAt": T0 - 20 * S,
        },
        40 * S,
    ),
    (
        "paused by a person, pods ready: nothing until a change (the deadline acts on "
        "missing pods only)",
        {"strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}}, "analysis": None},
        {
            "phase": "Paused",
            "pauseReason": "PauseStep",
            "canary": {**CANARY, "weight": 10},
            "currentStep": 1,
            "stepStartedAt": T0,
        },
        None,
    ),
    (
        "paused by a person, a canary pod lost: the progress deadline",
        {"strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}}, "analysis": None},
        {
            "phase": "Paused",
            "pauseReason": "PauseStep",
            "canary": {**CANARY, "weight": 10, "readyReplicas": 0},
            "currentStep": 1,
            "stepStartedAt": T0,
        },
        1800 * S,
    ),
    (
        "paused on analysis errors: measuring goes on, the next run",
        {},
        {
            "phase": "Paused",
            "pauseReason": "AnalysisErrors",
            "canary": {**CANARY, "weight": 10},
            "currentStep": 1,
            "stepStartedAt": T0 - 45 * S,
            "weightSetAt": T0 - 45 * S,
            "analysis": {"lastRunAt": T0 - 20 * S},
        },
        10 * S,
    ),
    (
        "promoting: the next stage at once",
        {},
        {
            "phase": "Progressing",
            "canary": {**CANARY, "weight": 100},
            "promotionStage": "AllToCanary",
            "stepStartedAt": T0,
        },
        0 * S,
    ),
    (
        "blue/green preview: the next measurement before the preview's minimum",
        BLUE_GREEN,
        {
            "phase": "Progressing",
            "canary": {**CANARY, "replicas": 4, "readyReplicas": 4},
            "currentStep": 1,
            "stepStartedAt": T0,
            "analysis": {"lastRunAt": T0},
        },
        30 * S,
    ),
    (
        "blue/green preview without analysis: the preview's minimum",
        {**BLUE_GREEN, "analysis": None},
        {
            "phase": "Progressing",
            "canary": {**CANARY, "replicas": 4, "readyReplicas": 4},
            "currentStep": 1,
            "stepStartedAt": T0,
        },
        60 * S,
    ),
    (
        "after a blue/green switch: the end of the post-promotion window",
        {**BLUE_GREEN, "analysis": None},
        {
            "phase": "Healthy",
            "previous": {**STABLE, "revision": "p", "weight": 0},
            "postPromotionUntil": T0 + 300 * S,
        },
        300 * S,
    ),
    (
        "a timer already run out is due now, not in the past",
        {},
        {"phase": "Healthy", "scaleDowns": [{"revision": "z", "at": T0 - 60 * S}]},
        0 * S,
    ),
]


def test_a_promotion_stage_is_due_at_once_only_after_it_moved_on() -> None:
    """A stage that waits (for the canary's pods, or for the stable Service to reach
    them) waits for that change: due again at once, it would spin."""
    promoting = status(
        phase="Progressing",
        canary={**CANARY, "weight": 100, "replicas": 4, "readyReplicas": 4},
        promotionStage="SwitchStable",
        stepStartedAt=T0,
    )
    assert next_due(spec("2.0.0"), promoting, T0, PromotionStage.ALL_TO_CANARY) == T0
    assert next_due(spec("2.0.0"), promoting, T0, PromotionStage.SWITCH_STABLE) is None


def test_the_table_covers_every_phase() -> None:
    assert {fields["phase"] for _, _, fields, _ in CASES} == set(Phase)


@pytest.mark.parametrize(
    ("overrides", "fields", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_next_due(
    overrides: dict[str, Any], fields: dict[str, Any], after: timedelta | None
) -> None:
    due = next_due(spec("2.0.0", **overrides), status(**fields), T0)
    assert due == (None if after is None else T0 + after)


def test_every_decision_says_when_it_is_next_due() -> None:
    world = healthy_world()
    assert world.last is not None
    assert world.last.next_due is None, "healthy: only a change brings work"
    world.spec = spec("2.0.0")
    world.tick()
    world.tick()  # canary at 10%
    assert world.last.next_due == world.now + timedelta(seconds=30)
    world.tick(
        advance=timedelta(seconds=30), measurements=(measurement(Outcome.SUCCESSFUL, world.now),)
    )
    assert world.last.next_due == world.now + timedelta(seconds=30)
