"""An anytime-valid test that the canary's rate of bad requests (errors, or requests
slower than a threshold) is worse than stable's by more than a tolerance.

The data. Between two looks, the canary served n_c requests of which x_c were bad, and
stable n_s with x_s bad. The hypothesis tested, H0: the canary's bad-request rate is at
most rho0 = 1 + tolerance times stable's.

The conditional model. Given an interval's requests and its X = x_c + x_s bad ones,
each bad request is the canary's with probability

    theta(rho) = f * rho / (f * rho + 1 - f),    f = n_c / (n_c + n_s),

where rho is the ratio of the two rates (the Poisson approximation of two binomials;
under equal rates the exact law, sampling without replacement, is less spread than the
binomial, so the bound below stays conservative). Conditioning on the requests is what
lets the traffic split change from one interval to the next: a new weight, a mirror,
a header route.

The evidence. For each alternative rho_j = rho0 * m_j (m_j in ALTERNATIVES, equal prior
weight), the likelihood ratio against rho0 multiplies over intervals:

    L_j = prod_k (theta_kj / theta_k0) ** x_c,k * ((1 - theta_kj) / (1 - theta_k0)) ** x_s,k

and the evidence is their mixture E = mean_j L_j (a mixture sequential probability
ratio test). Under H0, E is a non-negative supermartingale starting at 1: for
rho = rho0 each factor has expectation 1, and for rho < rho0 less (the likelihood
ratio of a larger theta is increasing in x_c). Ville's inequality then gives

    P(E ever reaches 1 / alpha) <= alpha

however often it is looked at and whenever the looking stops. So the judge rolls back
the first time E >= 1 / alpha (alpha = falseRollbackRate), checking after every scrape.

The tolerance is relative: with tolerance 0.25, a canary erring 1.2 times as often as
stable is acceptable and one erring 2 times as often is the kind of difference the
test looks for. When stable never errs, a few canary errors are evidence: under H0 each
would have been the canary's with probability about f only.

Written here rather than with scipy: the update is two logarithms per alternative,
and the operator's image stays free of scipy; the unit tests check it against
scipy.stats.binom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Alternatives as multiples of rho0, equally weighted: from a little worse to a
# version that fails almost everything stable serves.
ALTERNATIVES: tuple[float, ...] = (1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0)
# A goal shows the canary beyond a boundary it may be just beyond (10% more clicks):
# alternatives close to it, where the guard's would miss a small true difference.
GOAL_ALTERNATIVES: tuple[float, ...] = (1.05, 1.1, 1.2, 1.35, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Counts:
    """What both sides served over a span: all requests, and the bad ones among them
    (counts may be fractional: Prometheus's increase() extrapolates to its window's ends)."""

    canary_requests: float
    canary_bad: float
    stable_requests: float
    stable_bad: float


def canary_share_of_bad(share: float, ratio: float) -> float:
    """theta: the chance a bad request is the canary's, given its share of requests."""
    return share * ratio / (share * ratio + 1.0 - share)


def tolerated_ratio(tolerance: float, higher_is_worse: bool = True) -> float:
    """The boundary of "no worse than stable by more than the tolerance": 1 + tolerance
    times stable's rate, or 1 / (1 + tolerance) of it where a higher rate is better."""
    return 1.0 + tolerance if higher_is_worse else 1.0 / (1.0 + tolerance)


def update(
    log_ratios: Sequence[float],
    interval: Counts,
    rho0: float,
    upward: bool = True,
    alternatives: Sequence[float] = ALTERNATIVES,
) -> list[float]:
    """Each alternative's log likelihood ratio after one more interval, testing
    H0: rho <= rho0 against rho0 * m_j (upward), or H0: rho >= rho0 against rho0 / m_j
    (downward: the same argument, mirrored, makes E a supermartingale under it). An
    interval in which either side served nothing, or nothing was counted, carries no
    evidence."""
    n_c, n_s = interval.canary_requests, interval.stable_requests
    x_c = min(interval.canary_bad, n_c)
    x_s = min(interval.stable_bad, n_s)
    if n_c <= 0 or n_s <= 0 or x_c + x_s <= 0:
        return list(log_ratios)
    share = n_c / (n_c + n_s)
    theta0 = canary_share_of_bad(share, rho0)
    out = []
    for log_ratio, multiple in zip(log_ratios, alternatives, strict=True):
        theta = canary_share_of_bad(share, rho0 * multiple if upward else rho0 / multiple)
        step = x_c * math.log(theta / theta0) + x_s * (math.log1p(-theta) - math.log1p(-theta0))
        out.append(log_ratio + step)
    return out


def evidence(log_ratios: Sequence[float]) -> float:
    """The mixture E (1 before any data); capped where a float ends."""
    if not log_ratios:
        return 1.0
    top = max(log_ratios)
    if top > 700:  # exp would overflow: the evidence is overwhelming anyway
        return math.inf
    return sum(math.exp(r) for r in log_ratios) / len(log_ratios)


def start(alternatives: Sequence[float] = ALTERNATIVES) -> list[float]:
    """The log likelihood ratios before any data: all alternatives at 0."""
    return [0.0] * len(alternatives)


def boundary(false_rollback_rate: float, tests: int = 1) -> float:
    """The evidence at which a test rolls back: 1 / alpha, with alpha split evenly over
    `tests` run side by side, so that any of them does so by chance at most alpha."""
    return tests / false_rollback_rate
