"""The sequential test's properties on simulated counts: the likelihood ratio is the
binomial one, no traffic is no evidence, false rollbacks stay at or below the rate
asked for over 10,000 simulated rollouts (looking after every scrape), and a real
difference is found."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats

from bench.judge_simulation import Setting, goals_met, sequential_rollbacks, update
from modelrollout.engine import sequential
from modelrollout.engine.sequential import Counts

RUNS = 10_000


def test_each_alternative_is_the_binomial_likelihood_ratio_of_the_canarys_share() -> None:
    rng = random.Random(1)
    for _ in range(200):
        n_c, n_s = rng.randint(1, 500), rng.randint(1, 5000)
        x_c, x_s = rng.randint(0, n_c), rng.randint(0, n_s)
        if x_c + x_s == 0:
            continue
        tolerance = rng.choice([0.0, 0.25, 1.0])
        got = sequential.update(sequential.start(), Counts(n_c, x_c, n_s, x_s), 1 + tolerance)
        share = n_c / (n_c + n_s)
        theta0 = sequential.canary_share_of_bad(share, 1 + tolerance)
        for log_ratio, multiple in zip(got, sequential.ALTERNATIVES, strict=True):
            theta = sequential.canary_share_of_bad(share, (1 + tolerance) * multiple)
            expected = stats.binom.logpmf(x_c, x_c + x_s, theta) - stats.binom.logpmf(
                x_c, x_c + x_s, theta0
            )
            assert log_ratio == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    "counts",
    [
        Counts(0, 0, 100, 5),  # the canary served nothing
        Counts(100, 5, 0, 0),  # stable served nothing
        Counts(100, 0, 1900, 0),  # nothing went wrong anywhere
    ],
)
def test_an_interval_without_both_sides_or_without_bad_requests_is_no_evidence(
    counts: Counts,
) -> None:
    before = [0.3, -1.0, 2.0, 0.0, 0.0, 1.0, -4.0]
    assert sequential.update(before, counts, 1.25) == before


def test_more_canary_errors_are_more_evidence_and_more_stable_errors_less() -> None:
    def after(counts: Counts) -> float:
        return sequential.evidence(sequential.update(sequential.start(), counts, 1.25))

    assert after(Counts(100, 1, 1900, 19)) < after(Counts(100, 5, 1900, 19))
    assert after(Counts(100, 5, 1900, 19)) < after(Counts(100, 20, 1900, 19))
    assert after(Counts(100, 5, 1900, 80)) < after(Counts(100, 5, 1900, 19))
    # As often as stable (1%): no evidence against the canary.
    assert after(Counts(100, 1, 1900, 19)) < 1


def test_evidence_starts_at_one_and_saturates_instead_of_overflowing() -> None:
    assert sequential.evidence(sequential.start()) == 1.0
    assert sequential.evidence([800.0, 0.0]) == math.inf
    assert sequential.boundary(0.01) == pytest.approx(100)


def test_the_simulations_vectorized_update_is_the_engines() -> None:
    rng = np.random.default_rng(2)
    log_ratios = rng.normal(size=(50, len(sequential.ALTERNATIVES)))
    n_c = rng.poisson(20, 50).astype(float)
    n_s = rng.poisson(380, 50).astype(float)
    n_c[:3] = 0  # no canary traffic in some intervals
    x_c = rng.binomial(n_c.astype(int), 0.2).astype(float)
    x_s = rng.binomial(n_s.astype(int), 0.01).astype(float)
    vectorized = update(log_ratios, x_c, n_c, x_s, n_s, 1.25)
    for row in range(50):
        one = sequential.update(
            list(log_ratios[row]), Counts(n_c[row], x_c[row], n_s[row], x_s[row]), 1.25
        )
        assert list(vectorized[row]) == pytest.approx(one, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("canary_rps", "alpha", "ratio"),
    [
        (5.0, 0.01, 1.0),
        (20.0, 0.01, 1.0),
        (100.0, 0.05, 1.0),
        # The hardest null: the canary exactly as much worse as the tolerance allows.
        (20.0, 0.05, 1.25),
    ],
)
def test_false_rollbacks_stay_at_or_below_the_rate_asked_for(
    canary_rps: float, alpha: float, ratio: float
) -> None:
    """10,000 ten-minute rollouts, a look every second, no difference beyond the
    tolerance: the share rolled back, with its 95% Clopper-Pearson interval, is at or
    below falseRollbackRate."""
    rolled = sequential_rollbacks(
        Setting(canary_rps, ratio, alpha=alpha), RUNS, np.random.default_rng(3)
    )
    false = int(np.isfinite(rolled).sum())
    interval = stats.binomtest(false, RUNS).proportion_ci(confidence_level=0.95)
    print(
        f"{canary_rps:g} req/s, {ratio:g}x, alpha {alpha}: {false}/{RUNS} false rollbacks "
        f"= {false / RUNS:.4f} (95% CI {interval.low:.4f}..{interval.high:.4f})"
    )
    assert interval.high <= alpha


@pytest.mark.parametrize(
    ("canary_rps", "ratio", "median_within"),
    [(20.0, 50.0, 2.0), (20.0, 5.0, 30.0), (100.0, 2.0, 90.0)],
)
def test_a_worse_canary_is_found_and_soon(
    canary_rps: float, ratio: float, median_within: float
) -> None:
    rolled = sequential_rollbacks(Setting(canary_rps, ratio), 1000, np.random.default_rng(4))
    assert np.isfinite(rolled).all(), "a worse canary survived a ten-minute rollout"
    median = float(np.median(rolled))
    print(f"{canary_rps:g} req/s, {ratio:g}x: median {median:g} s, max {rolled.max():g} s")
    assert median <= median_within


def test_a_ratio_where_higher_is_better_rolls_back_at_most_as_often_as_asked() -> None:
    """The guard turned round (clicks): a canary with exactly 1 / 1.25 of stable's click
    rate, the hardest null, over 10,000 ten-minute rollouts at alpha 0.05."""
    rolled = goals_met(
        0.08,
        0.1,
        1 / 1.25,
        False,
        RUNS,
        np.random.default_rng(5),
        20.0,
        0.05,
        sequential.ALTERNATIVES,
    )
    false = int(np.isfinite(rolled).sum())
    interval = stats.binomtest(false, RUNS).proportion_ci(confidence_level=0.95)
    print(
        f"fewer clicks at the tolerance: {false}/{RUNS} rolled back "
        f"(95% CI up to {interval.high:.4f})"
    )
    assert interval.high <= 0.05
    caught = goals_met(
        0.05,
        0.1,
        1 / 1.25,
        False,
        1000,
        np.random.default_rng(6),
        20.0,
        0.01,
        sequential.ALTERNATIVES,
    )
    assert np.isfinite(caught).mean() >= 0.9, "half the clicks is found"
