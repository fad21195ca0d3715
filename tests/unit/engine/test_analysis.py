"""Judging values, adding up a run, and when a measurement is due."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sim import T0, measurement, spec

from modelrollout.api.status import ModelDeploymentStatus, RevisionStatus
from modelrollout.api.vocabulary import Outcome
from modelrollout.engine.analysis import analysis_due
from modelrollout.engine.verdict import judge, run_outcome


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        (0.005, None, 0.01, Outcome.SUCCESSFUL),
        (0.01, None, 0.01, Outcome.SUCCESSFUL),  # the bound itself passes
        (0.02, None, 0.01, Outcome.FAILED),
        (0.5, 0.9, None, Outcome.FAILED),
        (0.95, 0.9, 1.0, Outcome.SUCCESSFUL),
        (math.nan, None, 0.01, Outcome.INCONCLUSIVE),
        (math.inf, None, 0.01, Outcome.INCONCLUSIVE),
    ],
)
def test_judge(value: float, low: float | None, high: float | None, expected: Outcome) -> None:
    assert judge(value, low, high)[0] == expected


def test_judge_says_the_value_and_the_threshold() -> None:
    assert judge(0.2, None, 0.01)[1] == "0.2 is above the maximum 0.01"


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([Outcome.SUCCESSFUL, Outcome.SUCCESSFUL], Outcome.SUCCESSFUL),
        ([Outcome.SUCCESSFUL, Outcome.INCONCLUSIVE], Outcome.INCONCLUSIVE),
        ([Outcome.INCONCLUSIVE, Outcome.ERROR], Outcome.ERROR),
        ([Outcome.ERROR, Outcome.FAILED], Outcome.FAILED),
        ([], Outcome.INCONCLUSIVE),
    ],
)
def test_a_run_is_as_bad_as_its_worst_measurement(
    outcomes: list[Outcome], expected: Outcome
) -> None:
    assert run_outcome([measurement(o, T0) for o in outcomes]) == expected


def _status(weight: int, **fields: object) -> ModelDeploymentStatus:
    canary = RevisionStatus(version="2", revision="b", weight=weight)
    return ModelDeploymentStatus(canary=canary, **fields)  # type: ignore[arg-type]


def test_no_analysis_without_canary_traffic() -> None:
    assert not analysis_due(spec(), _status(0, step_started_at=T0), T0 + timedelta(hours=1))
    assert not analysis_due(spec(), ModelDeploymentStatus(), T0)


def test_first_run_waits_an_interval_after_the_weight_was_set() -> None:
    status = _status(10, weight_set_at=T0, step_started_at=T0)
    assert not analysis_due(spec(), status, T0 + timedelta(seconds=29))
    assert analysis_due(spec(), status, T0 + timedelta(seconds=30))


def test_later_runs_come_once_per_interval() -> None:
    status = _status(10, weight_set_at=T0)
    status.analysis.last_run_at = T0 + timedelta(seconds=30)
    assert not analysis_due(spec(), status, T0 + timedelta(seconds=59))
    assert analysis_due(spec(), status, T0 + timedelta(seconds=60))


def test_no_analysis_once_traffic_moves_over_for_good() -> None:
    status = _status(100, weight_set_at=T0, promotion_stage=1)
    assert not analysis_due(spec(), status, T0 + timedelta(hours=1))
