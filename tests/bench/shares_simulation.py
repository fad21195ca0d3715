"""Benchmark (pure simulation, seconds): the judge's distribution checks (predictions;
latency without a threshold) on simulated bucket counts, beside what a threshold query
on the same series would do.

Each rollout lasts 10 minutes with a look every second. The canary's requests fall in
the buckets with probabilities `canary`, stable's with `stable`; the canary gets
`canary_rps` and stable `stable_rps` (the same, mirrored, by default). A model
"predicting garbage on 30%" answers 30% of its requests with one class whatever the
input. The threshold query compared is the one a user of Argo Rollouts or Flagger
would write: the canary's share of one class (the one garbage lands in) or within
one boundary (the one nearest stable's median), against stable's over a 10 s window,
failed beyond 10 points, rolled back at the third failure. Latency: log-normal,
median 20 ms (sigma 0.5) in the lab's buckets, the slower model's median 26 ms (+30%),
judged one way with no threshold. Writes
tests/bench/results/shares_simulation.{json,md}.

    python tests/bench/shares_simulation.py --runs 2000
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from modelrollout.api.judge_checks import SHARE_TOLERANCE
from modelrollout.engine import shares

RESULTS = Path(__file__).parent / "results"
IRIS = (1 / 3, 1 / 3, 1 / 3)  # the lab's model: three classes, balanced
THRESHOLD_WINDOW = 10
THRESHOLD_SHIFT = 0.10
FAILURE_LIMIT = 2

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Setting:
    canary_rps: float
    stable: tuple[float, ...]
    canary: tuple[float, ...]
    stable_rps: float | None = None  # None: mirrored, as many as the canary
    tolerance: float = SHARE_TOLERANCE
    alpha: float = 0.01
    cumulative: bool = False  # a histogram: shares at or below each boundary, one way
    seconds: int = 600


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)  # the lab's


def latency(median: float, sigma: float = 0.5) -> tuple[float, ...]:
    """Each latency bucket's probability for a log-normal latency (the last: +Inf)."""
    cdf = [float(stats.lognorm.cdf(b, sigma, scale=median)) for b in LATENCY_BUCKETS]
    edges = [0.0, *cdf, 1.0]
    return tuple(b - a for a, b in pairwise(edges))


def garbage(share: float, into: int = 0, base: tuple[float, ...] = IRIS) -> tuple[float, ...]:
    """A model answering `share` of its requests with class `into`, whatever the input."""
    return tuple((1 - share) * p + (share if k == into else 0.0) for k, p in enumerate(base))


def mixture(s: Floats, v: Floats) -> Floats:
    """shares.mixture for many rollouts at once (the unit tests hold them equal)."""
    total = v + shares.RHO
    z = s / np.sqrt(total)
    log_e = np.log(2.0) + 0.5 * np.log(shares.RHO / total) + z * z / 2 + special.log_ndtr(z)
    return np.exp(np.minimum(log_e, 700.0))


def evidence(shifts: Floats, weight: Floats, tolerance: float, slots: int, one_way: bool) -> Floats:
    """shares.evidence for many rollouts at once: shifts (runs, buckets), weight (runs)."""
    v = (weight / 4.0)[:, None]
    margin = (tolerance * weight)[:, None]
    lower = mixture(-shifts - margin, v)
    per = lower if one_way else (lower + mixture(shifts - margin, v)) / 2
    return (per.sum(axis=1) + slots - shifts.shape[1]) / slots


def rollbacks(setting: Setting, runs: int, rng: np.random.Generator) -> Floats:
    """Seconds until each rollout was rolled back (inf: never)."""
    stable_rps = setting.stable_rps if setting.stable_rps is not None else setting.canary_rps
    buckets = len(setting.stable) - 1 if setting.cumulative else len(setting.stable)
    slots = min(buckets + shares.RESERVE, 32)
    shifts = np.zeros((runs, buckets))
    weight = np.zeros(runs)
    rolled = np.full(runs, np.inf)
    for second in range(1, setting.seconds + 1):
        n_c = rng.poisson(setting.canary_rps, runs)
        n_s = rng.poisson(stable_rps, runs)
        c = rng.multinomial(n_c, setting.canary).astype(float)
        s = rng.multinomial(n_s, setting.stable).astype(float)
        if setting.cumulative:
            c, s = np.cumsum(c, axis=1)[:, :-1], np.cumsum(s, axis=1)[:, :-1]
        n_c_f, n_s_f = n_c.astype(float), n_s.astype(float)
        both = (n_c > 0) & (n_s > 0)
        n = np.where(both, n_c_f * n_s_f / np.maximum(n_c_f + n_s_f, 1), 0.0)
        d = c / np.maximum(n_c_f, 1)[:, None] - s / np.maximum(n_s_f, 1)[:, None]
        shifts += n[:, None] * d
        weight += n
        e = evidence(shifts, weight, setting.tolerance, slots, setting.cumulative)
        newly = np.isinf(rolled) & (e >= 1 / setting.alpha)
        rolled[newly] = second
    return rolled


def threshold_rollbacks(setting: Setting, runs: int, rng: np.random.Generator) -> Floats:
    """The threshold query on the same series: the canary's share of the watched
    bucket against stable's, over each 10 s window; three failures roll back."""
    canary_p, stable_p = np.asarray(setting.canary), np.asarray(setting.stable)
    if setting.cumulative:  # shares within each boundary
        canary_p, stable_p = np.cumsum(canary_p)[:-1], np.cumsum(stable_p)[:-1]
    # The share a user watches: the bucket nearest half of stable's (the first class,
    # the one garbage lands in, when all are even; the boundary near the median).
    moved = int(np.argmin(np.abs(stable_p - 0.5)))
    stable_rps = setting.stable_rps if setting.stable_rps is not None else setting.canary_rps
    failures = np.zeros(runs, dtype=int)
    rolled = np.full(runs, np.inf)
    for end in range(THRESHOLD_WINDOW, setting.seconds + 1, THRESHOLD_WINDOW):
        n_c = rng.poisson(setting.canary_rps * THRESHOLD_WINDOW, runs)
        n_s = rng.poisson(stable_rps * THRESHOLD_WINDOW, runs)
        x_c = rng.binomial(n_c, canary_p[moved])
        x_s = rng.binomial(n_s, stable_p[moved])
        shift = np.abs(x_c / np.maximum(n_c, 1) - x_s / np.maximum(n_s, 1))
        failures += (shift > THRESHOLD_SHIFT) & (n_c > 0)
        newly = np.isinf(rolled) & (failures > FAILURE_LIMIT)
        rolled[newly] = end
    return rolled


def summary(rolled: Floats) -> dict[str, Any]:
    caught = rolled[np.isfinite(rolled)]
    return {
        "rolled_back": round(float(np.isfinite(rolled).mean()), 4),
        "median_s": float(np.median(caught)) if caught.size else None,
        "p90_s": float(np.percentile(caught, 90)) if caught.size else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    rows = []
    fast, slow = latency(0.02), latency(0.026)
    for rps in (5.0, 20.0, 100.0):
        for label, setting in (
            ("good (same model)", Setting(rps, IRIS, IRIS)),
            ("garbage on 10%", Setting(rps, IRIS, garbage(0.10))),
            ("garbage on 30%", Setting(rps, IRIS, garbage(0.30))),
            ("latency: same", Setting(rps, fast, fast, cumulative=True)),
            ("latency: median +30%", Setting(rps, fast, slow, cumulative=True)),
        ):
            rows.append(
                {
                    "canary_rps": rps,
                    "model": label,
                    "judge": summary(rollbacks(setting, args.runs, rng)),
                    "threshold_query": summary(threshold_rollbacks(setting, args.runs, rng)),
                }
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shares_simulation.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| canary req/s | model | judge: rolled back | median s | threshold query: rolled "
        "back | median s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        j, t = r["judge"], r["threshold_query"]
        lines.append(
            f"| {r['canary_rps']:g} | {r['model']} | {j['rolled_back']:.2%} | {j['median_s']} "
            f"| {t['rolled_back']:.2%} | {t['median_s']} |"
        )
    (RESULTS / "shares_simulation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
