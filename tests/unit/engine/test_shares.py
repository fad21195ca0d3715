"""The distribution test's properties on simulated counts: the closed form is the
mixture it says it is, no data is no evidence, false rollbacks stay at or below the
rate asked for over 10,000 simulated rollouts (a look every second), at the hardest
null too (a class moved by exactly the tolerance), the confidence sequence covers, and
a drifted model is found."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from bench.shares_simulation import IRIS, Setting, evidence, garbage, latency, rollbacks
from modelrollout.engine import shares

RUNS = 10_000


@pytest.mark.parametrize(("s", "v"), [(0.0, 0.0), (3.0, 10.0), (-2.0, 5.0), (40.0, 100.0)])
def test_the_closed_form_is_the_half_normal_mixture_of_the_bets(s: float, v: float) -> None:
    def bet(lam: float) -> float:
        prior = 2 * stats.norm.pdf(lam, scale=1 / math.sqrt(shares.RHO))
        return math.exp(lam * s - lam * lam * v / 2) * prior

    integral, _ = integrate.quad(bet, 0, np.inf)
    assert shares.mixture(s, v) == pytest.approx(integral, rel=1e-6)


def test_no_data_is_no_evidence_and_extremes_neither_overflow_nor_fail() -> None:
    assert shares.evidence([0.0, 0.0], 0.0, 0.05, 4, "either") == pytest.approx(1.0)
    assert shares.evidence([], 0.0, 0.05, 0, "either") == 1.0
    assert shares.update([1.0, 2.0], [5, 5], 0, [3, 3], 10) == [1.0, 2.0], "no canary requests"
    assert shares.mixture(1e6, 1.0) == math.inf
    assert shares.mixture(-1e6, 1.0) == 0.0
    assert shares.interval(0.0, 0.0, 0.01) is None


def test_a_look_adds_each_buckets_weighted_difference_of_shares() -> None:
    # 40 canary requests, 10 in the bucket (25%); 60 stable, 30 in it (50%): n = 24.
    assert shares.weight(40, 60) == pytest.approx(24)
    assert shares.update([1.0], [10], 40, [30], 60) == pytest.approx([1.0 + 24 * (0.25 - 0.5)])


def test_the_simulations_vectorized_evidence_is_the_engines() -> None:
    rng = np.random.default_rng(2)
    shifts = rng.normal(0, 20, size=(40, 3))
    weight = rng.uniform(0, 400, size=40)
    for one_way in (False, True):
        vectorized = evidence(shifts, weight, 0.05, 5, one_way)
        for row in range(40):
            worse = "lower" if one_way else "either"
            one = shares.evidence(list(shifts[row]), weight[row], 0.05, 5, worse)
            assert vectorized[row] == pytest.approx(one, rel=1e-9)


def _moved(by: float) -> tuple[float, ...]:
    """IRIS with `by` of the second class's share moved to the first."""
    return (IRIS[0] + by, IRIS[1] - by, IRIS[2])


@pytest.mark.parametrize(
    "setting",
    [
        Setting(5.0, IRIS, IRIS),
        Setting(20.0, IRIS, IRIS),
        Setting(5.0, IRIS, IRIS, stable_rps=95.0),  # a 5% canary
        Setting(100.0, IRIS, IRIS, alpha=0.05),
        # The hardest nulls: a class moved by exactly the tolerance.
        Setting(20.0, IRIS, _moved(0.05), alpha=0.05),
        Setting(100.0, IRIS, _moved(0.05), alpha=0.05),
        # A histogram, judged one way: the canary's share within a boundary lower by
        # exactly the tolerance.
        Setting(50.0, (0.2, 0.3, 0.3, 0.2), (0.15, 0.3, 0.35, 0.2), alpha=0.05, cumulative=True),
        # The same latency in the lab's eleven buckets.
        Setting(20.0, latency(0.02), latency(0.02), cumulative=True),
    ],
)
def test_false_rollbacks_stay_at_or_below_the_rate_asked_for(setting: Setting) -> None:
    """10,000 ten-minute rollouts, a look every second, no shift beyond the tolerance:
    the share rolled back, with its 95% Clopper-Pearson interval, is at or below alpha."""
    rolled = rollbacks(setting, RUNS, np.random.default_rng(3))
    false = int(np.isfinite(rolled).sum())
    interval = stats.binomtest(false, RUNS).proportion_ci(confidence_level=0.95)
    print(
        f"{setting}: {false}/{RUNS} false rollbacks = {false / RUNS:.4f} "
        f"(95% CI {interval.low:.4f}..{interval.high:.4f})"
    )
    assert interval.high <= setting.alpha


@pytest.mark.parametrize(
    ("setting", "median_within"),
    [
        (Setting(20.0, IRIS, garbage(0.3)), 25.0),
        (Setting(100.0, IRIS, garbage(0.3)), 6.0),
        (Setting(5.0, IRIS, garbage(0.3)), 100.0),
        # Slower: a histogram whose mass moved one bucket up by 30 points.
        (Setting(20.0, (0.2, 0.5, 0.3), (0.1, 0.3, 0.6), cumulative=True), 25.0),
        # A log-normal latency (median 20 ms) whose median grew 30%, in the lab's buckets.
        (Setting(20.0, latency(0.02), latency(0.026), cumulative=True), 30.0),
    ],
)
def test_a_drifted_model_is_found_and_soon(setting: Setting, median_within: float) -> None:
    rolled = rollbacks(setting, 1000, np.random.default_rng(4))
    assert np.isfinite(rolled).all(), "a drifted model survived a ten-minute rollout"
    median = float(np.median(rolled))
    print(f"{setting}: median {median:g} s, max {rolled.max():g} s")
    assert median <= median_within


def test_a_shift_the_other_way_is_not_a_slower_model() -> None:
    """A histogram judged one way: a canary faster than stable is no reason to roll back."""
    faster = Setting(50.0, (0.1, 0.3, 0.6), (0.2, 0.5, 0.3), cumulative=True, seconds=120)
    assert not np.isfinite(rollbacks(faster, 500, np.random.default_rng(5))).any()


def test_the_confidence_sequence_covers_the_shift_at_every_look_at_once() -> None:
    """Over 2,000 simulated rollouts, the interval excluded the true difference at some
    look in at most alpha of them."""
    rng = np.random.default_rng(6)
    p, q, alpha, missed = 0.3, 0.4, 0.05, 0
    for _ in range(2000):
        shift, weight = 0.0, 0.0
        for _ in range(120):
            n_c, n_s = rng.poisson(10), rng.poisson(30)
            c, s = rng.binomial(n_c, q), rng.binomial(n_s, p)
            [shift] = shares.update([shift], [c], n_c, [s], n_s)
            weight += shares.weight(n_c, n_s)
            bounds = shares.interval(shift, weight, alpha)
            if bounds is not None and not bounds[0] <= q - p <= bounds[1]:
                missed += 1
                break
    assert missed / 2000 <= alpha, missed
