"""An anytime-valid test that the canary's distribution (of predictions, or of latency)
differs from stable's by more than a tolerance, from bucketed counts.

The data. A distribution arrives as counts per bucket: a counter by predicted class,
or a histogram's cumulative buckets (the share at or below each boundary `le`). For
each bucket j and each look k, the canary served n_c requests of which c_j fell in the
bucket, stable n_s with s_j, and

    D_kj = c_j / n_c - s_j / n_s

estimates d_kj = q_j - p_j, the difference of the two sides' shares of bucket j on
that look's traffic.

The hypothesis. H0: |d_kj| <= delta for every bucket and look (one side only, for
latency: the canary's share at or below a boundary is not lower by more than delta).
A total variation distance of at most delta implies it (no set of outcomes changes its
share by more than the distance), so with a distance within the tolerance the judge
rolls back by chance at most falseRollbackRate of the time. The tolerance is a share
(0.05: five points), so a rare class whose share doubles from 0.1% to 0.2% is within
it, as a retrained model is allowed to differ a little.

The evidence. Given the looks' request counts, each request falls in a bucket
independently, so n_k (D_kj - d_kj) with n_k = n_c n_s / (n_c + n_s) is sub-Gaussian
with variance proxy n_k / 4 (Hoeffding: a share of n requests varies like 1 / (4 n)).
For any bet lambda >= 0,

    exp(lambda S - lambda^2 V / 2),   S = sum_k n_k (D_kj - delta),   V = sum_k n_k / 4

is then a non-negative supermartingale under H0; mixed over lambda with a half-normal
density of precision RHO it is, in closed form (Howard et al. 2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", the one-sided normal mixture),

    E = 2 sqrt(RHO / (V + RHO)) exp(S^2 / (2 (V + RHO))) Phi(S / sqrt(V + RHO)).

The check's evidence is the average of E over its buckets (and over both directions,
for predictions), an average of test supermartingales being one too; Ville's inequality
then bounds the chance it ever reaches 1 / alpha by alpha. The average is over `slots`,
fixed at the first look: the buckets seen then and RESERVE more, so that a class the
canary invents later (a new label) is judged too without loosening the bound.

Nothing here assumes the traffic is the same from look to look: each look compares the
two sides on that look's traffic, which is what lets the split change between steps.

Written here rather than with scipy: the closed form needs one erfc, and the operator's
image stays free of scipy; the unit tests check the false-rollback rate by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

# The mixture's precision, in units of V (a quarter request): it puts the test's best
# power around a couple of hundred requests per side, where a clear drift shows.
RHO = 3.0
# Buckets beyond those of the first look that may still join the average.
RESERVE = 2

Worse = Literal["lower", "either"]


def weight(canary: float, stable: float) -> float:
    """A look's weight n = n_c n_s / (n_c + n_s): what the difference of two shares is worth."""
    if canary <= 0 or stable <= 0:
        return 0.0
    return canary * stable / (canary + stable)


def update(
    shifts: Sequence[float],
    canary: Sequence[float],
    canary_total: float,
    stable: Sequence[float],
    stable_total: float,
) -> list[float]:
    """Each bucket's sum of n_k D_kj after one more look (counts grown in it). A look in
    which either side served nothing adds nothing."""
    n = weight(canary_total, stable_total)
    if n <= 0:
        return list(shifts)
    return [
        shift + n * (_share(c, canary_total) - _share(s, stable_total))
        for shift, c, s in zip(shifts, canary, stable, strict=True)
    ]


def _share(count: float, total: float) -> float:
    return min(max(count / total, 0.0), 1.0)


def mixture(s: float, v: float) -> float:
    """E for sum S and variance proxy V; 0 where it underflows, inf where it overflows."""
    z = s / math.sqrt(v + RHO)
    tail = 0.5 * math.erfc(-z / math.sqrt(2.0))  # Phi(z)
    if tail <= 0.0:
        return 0.0
    log_e = math.log(2.0) + 0.5 * math.log(RHO / (v + RHO)) + z * z / 2.0 + math.log(tail)
    return math.inf if log_e > 700 else math.exp(log_e)


def evidence(
    shifts: Sequence[float], total_weight: float, tolerance: float, slots: int, worse: Worse
) -> float:
    """The check's evidence: E averaged over `slots` buckets (unused slots count 1)."""
    if slots <= 0:
        return 1.0
    v = total_weight / 4.0
    margin = tolerance * total_weight
    per_bucket = []
    for shift in shifts[:slots]:
        lower = mixture(-shift - margin, v)
        per_bucket.append(lower if worse == "lower" else (lower + mixture(shift - margin, v)) / 2)
    return (sum(per_bucket) + slots - len(per_bucket)) / slots


def interval(shift: float, total_weight: float, alpha: float) -> tuple[float, float] | None:
    """A confidence sequence for the bucket's difference of shares (canary minus stable):
    it holds at every look at once with probability 1 - alpha (the two-sided normal
    mixture of the same martingale). None before any data."""
    if total_weight <= 0:
        return None
    v = total_weight / 4.0
    radius = math.sqrt((v + RHO) * math.log((v + RHO) / (RHO * alpha * alpha)))
    middle = shift / total_weight
    half = radius / total_weight
    return max(middle - half, -1.0), min(middle + half, 1.0)
