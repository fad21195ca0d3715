"""Goals: a check that must show the canary not worse (or better) before a step passes.
They reach their verdicts at the designed error rates (10,000 simulated rollouts at the
hardest nulls), their intervals cover, and in a rollout a goal holds the step, is said
once met, and a canary that never shows it is rolled back at the deadline."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sim import World, healthy_world, rate_tallies, spec

from bench.judge_simulation import goals_met, update
from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine import goals, sequential
from modelrollout.engine.checks.reads import Tallies
from modelrollout.engine.judge_plan import judge_since
from modelrollout.engine.model import JudgeReading
from modelrollout.engine.sequential import Counts

RUNS = 10_000
SCRAPE = timedelta(seconds=5)


def test_the_simulations_downward_update_is_the_engines() -> None:
    rng = np.random.default_rng(1)
    log_ratios = rng.normal(size=(30, len(sequential.ALTERNATIVES)))
    n_c, n_s = rng.poisson(20, 30).astype(float), rng.poisson(380, 30).astype(float)
    x_c, x_s = rng.binomial(20, 0.1, 30).astype(float), rng.binomial(380, 0.1, 30).astype(float)
    vectorized = update(log_ratios, x_c, n_c, x_s, n_s, 1.25, upward=False)
    for row in range(30):
        one = sequential.update(
            list(log_ratios[row]), Counts(n_c[row], x_c[row], n_s[row], x_s[row]), 1.25, False
        )
        assert list(vectorized[row]) == pytest.approx(one, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("what", "canary", "stable", "rho0", "upward"),
    [
        # notWorse, lower better: the canary exactly 1.25 times stable's rate.
        ("not worse by 25%", 0.125, 0.1, 1.25, False),
        # better, higher better (clicks): a tie.
        ("more clicks", 0.1, 0.1, 1.0, True),
    ],
)
def test_a_goal_is_wrongly_met_at_most_as_often_as_designed(
    what: str, canary: float, stable: float, rho0: float, upward: bool
) -> None:
    met = goals_met(canary, stable, rho0, upward, RUNS, np.random.default_rng(2), alpha=0.05)
    wrong = int(np.isfinite(met).sum())
    interval = stats.binomtest(wrong, RUNS).proportion_ci(confidence_level=0.95)
    print(f"{what}: wrongly shown {wrong}/{RUNS} (95% CI {interval.low:.4f}..{interval.high:.4f})")
    assert interval.high <= 0.05


@pytest.mark.parametrize(
    ("what", "canary", "stable", "rho0", "upward", "median_within"),
    [
        ("an equal error rate is shown not worse", 0.1, 0.1, 1.25, False, 120.0),
        ("20% more clicks are shown better", 0.12, 0.1, 1.0, True, 180.0),
    ],
)
def test_a_goal_is_met_when_it_holds(
    what: str, canary: float, stable: float, rho0: float, upward: bool, median_within: float
) -> None:
    met = goals_met(canary, stable, rho0, upward, 1000, np.random.default_rng(3))
    assert np.isfinite(met).mean() >= 0.9, what
    print(f"{what}: median {np.median(met):g} s")
    assert float(np.median(met)) <= median_within


def test_the_ratios_interval_covers_at_every_look_at_once() -> None:
    rng = np.random.default_rng(4)
    alpha, truth, missed = 0.05, 1.5, 0
    for _ in range(500):
        grid = [0.0] * len(goals.RATIO_GRID)
        for _ in range(60):
            n_c, n_s = rng.poisson(20), rng.poisson(80)
            x_c, x_s = rng.binomial(n_c, 0.15), rng.binomial(n_s, 0.1)
            grid = goals.grid_update(grid, Counts(n_c, x_c, n_s, x_s))
            bounds = goals.ratio_interval(grid, alpha)
            if bounds is not None and not bounds[0] <= truth <= bounds[1]:
                missed += 1
                break
    assert missed / 500 <= alpha, missed


def test_no_data_is_no_interval_and_no_goal() -> None:
    check = Check(kind="errors", require="notWorse")
    state = goals.assess(check, JudgeCheck(name="errors"), 100.0)
    assert state.goal_met is False
    assert state.interval == []
    guard = Check(kind="errors")
    assert goals.assess(guard, JudgeCheck(name="errors"), 100.0).goal_met is None
    assert goals.ratio_interval([0.0] * len(goals.RATIO_GRID), 0.01) is None


def test_a_distribution_goal_is_met_once_every_bucket_is_within_the_tolerance() -> None:
    check = Check(kind="predictions", require="notWorse")
    near = JudgeCheck(name="p", kind="predictions", shifts=[300.0, -300.0], weight=30000, slots=4)
    far = near.model_copy(update={"shifts": [3000.0, -3000.0]})
    few = near.model_copy(update={"weight": 30.0, "shifts": [0.3, -0.3]})
    assert goals.assess(check, near, 100.0).goal_met, "1 point apart on 30,000 requests"
    assert not goals.assess(check, far, 100.0).goal_met, "10 points apart"
    assert not goals.assess(check, few, 100.0).goal_met, "too few requests to show it"
    low, high = goals.assess(check, near, 100.0).interval
    assert -0.05 < low < 0.01 < high < 0.05


STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "10s"}}]


def ab_world(deadline: str = "30m") -> World:
    world = healthy_world(strategy={"canary": {"steps": STEPS}})
    world.spec = spec(
        "2.0.0",
        strategy={"canary": {"steps": STEPS}},
        analysis={
            "prometheus": {"url": "http://prometheus:9090", "scrapeInterval": "5s"},
            "judge": {
                "deadline": deadline,
                "checks": [
                    {
                        "kind": "ratio",
                        "name": "clicks",
                        "series": "clicks_total",
                        "better": "higher",
                        "tolerance": 0.05,
                        "require": "better",
                    }
                ],
            },
        },
    )
    world.tick()
    world.tick()
    assert world.weight == 50
    return world


def clicks(canary_shown: float, canary: float, stable_shown: float, stable: float) -> Tallies:
    return rate_tallies("clicks", canary_shown, canary, stable_shown, stable)


def look(world: World, tallies: Tallies) -> None:
    """A look while the judge applies (not once the promotion moves traffic for good)."""
    since = judge_since(world.spec, world.status)
    world.tick(judge=None if since is None else JudgeReading(since, tallies), advance=SCRAPE)


def test_an_ab_goal_holds_the_step_until_the_winner_is_shown_then_promotes_it() -> None:
    world = ab_world()
    for n in range(1, 6):  # a minute of even clicks: no winner yet
        look(world, clicks(200 * n, 20 * n, 200 * n, 20 * n))
    assert world.status.current_step == 1
    assert "the judge to show its goals (clicks)" in world.status.message
    judge = world.status.analysis.judge
    assert judge is not None
    assert "goal better: not yet, canary/stable" in judge.message
    for n in range(6, 60):
        if world.status.phase == Phase.HEALTHY:
            break
        look(world, clicks(200 * n, 20 * 5 + 30 * (n - 5), 200 * n, 20 * n))
    assert world.status.phase == Phase.HEALTHY, world.status.message
    met = [e.message for e in world.events if e.reason == Reason.GOAL_MET]
    assert len(met) == 1, "said once"
    assert "goal better: met" in met[0]


def test_a_proven_loser_is_rolled_back_and_a_tie_at_the_deadline() -> None:
    loser = ab_world()
    for n in range(1, 30):
        if loser.status.phase == Phase.ROLLED_BACK:
            break
        look(loser, clicks(200 * n, 10 * n, 200 * n, 20 * n))
    assert loser.status.phase == Phase.ROLLED_BACK
    assert loser.status.rollback_reason == Reason.CANARY_WORSE

    tie = ab_world(deadline="2m")
    for n in range(1, 40):
        if tie.status.phase == Phase.ROLLED_BACK:
            break
        look(tie, clicks(200 * n, 20 * n, 200 * n, 20 * n))
    assert tie.status.phase == Phase.ROLLED_BACK
    assert tie.status.rollback_reason == Reason.GOAL_NOT_MET
    assert "clicks not shown within 2m" in tie.status.history[0].reason
    assert math.isclose(tie.weight, 0)
