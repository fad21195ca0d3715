"""The engine's tables: every kind has its row, and the promotion stages chain in order."""

from __future__ import annotations

from typing import get_args

import pytest

from modelrollout.api.spec import CanaryStep, Strategy
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import PromotionStage
from modelrollout.engine import canary, desired, requests, rollout, tick
from modelrollout.engine.model import RequestAction
from modelrollout.engine.promotion import STAGES, verdict_is_in

STRATEGY_KINDS = Strategy.wire_keys()


def test_every_step_kind_of_the_spec_has_a_function() -> None:
    assert set(canary.STEP_KINDS) == set(CanaryStep.wire_keys())


def test_every_request_action_has_a_function() -> None:
    assert set(requests.REQUESTS) == set(get_args(RequestAction))


@pytest.mark.parametrize(
    "table", [tick.TRAITS, rollout.STRATEGIES, desired._STRATEGY_NEEDS], ids=repr
)
def test_every_strategy_has_a_row(table: dict[str, object]) -> None:
    assert set(table) == set(STRATEGY_KINDS)


def test_every_situation_has_a_function() -> None:
    assert set(rollout.SITUATIONS) == set(rollout.Situation)


def test_promotion_stages_chain_in_order_and_end() -> None:
    order = list(PromotionStage)
    assert [STAGES[s].next for s in order] == [*order[1:], None]


@pytest.mark.parametrize(
    ("stage", "weight", "stable_on_canary", "verdict_in"),
    [
        (PromotionStage.SCALE_UP, None, False, False),
        (PromotionStage.ALL_TO_CANARY, 100, False, True),
        (PromotionStage.SWITCH_STABLE, 100, True, True),
        (PromotionStage.BACK_TO_STABLE, 0, True, True),
    ],
)
def test_what_each_promotion_stage_implies(
    stage: PromotionStage, weight: int | None, stable_on_canary: bool, verdict_in: bool
) -> None:
    assert (STAGES[stage].weight, STAGES[stage].stable_on_canary) == (weight, stable_on_canary)
    assert verdict_is_in(stage) is verdict_in


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (0, PromotionStage.SCALE_UP),
        (1, PromotionStage.ALL_TO_CANARY),
        (2, PromotionStage.SWITCH_STABLE),
        (3, PromotionStage.BACK_TO_STABLE),
        ("SwitchStable", PromotionStage.SWITCH_STABLE),
    ],
)
def test_stages_written_as_integers_by_0_1_0_still_read(
    written: int | str, read: PromotionStage
) -> None:
    status = ModelDeploymentStatus.model_validate({"promotionStage": written})
    assert status.promotion_stage == read
    assert status.wire()["promotionStage"] == read.value


def test_an_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match=r"promotionStage|promotion_stage"):
        ModelDeploymentStatus.model_validate({"promotionStage": 7})
