"""Benchmark (pure simulation, seconds): the sequential judge against today's threshold
judge, on simulated request and error counts.

The canary gets a 5% weight, so stable serves 19 times its traffic; stable errs on 1%
of requests, the canary on 1% (no difference: every rollback is a false one) or on 2, 5
or 50 times that. The sequential judge looks after every scrape (1 s) at the counts
since it began; the threshold judge measures the canary's error rate over each 10 s
interval, fails it above `max` (2%) and rolls back at the third failure (failureLimit
2), and a window with fewer than minSampleSize (100) requests is Inconclusive, never a
verdict. A
rollout lasts 10 minutes. Writes tests/bench/results/judge_simulation.{json,md}.

    python tests/bench/judge_simulation.py --runs 2000
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelrollout.engine import sequential

RESULTS = Path(__file__).parent / "results"
STABLE_ERRORS = 0.01
WEIGHT = 0.05
SCRAPE = 1.0
DURATION = 600.0
INTERVAL = 10.0
THRESHOLD = 0.02
MIN_SAMPLE = 100
FAILURE_LIMIT = 2

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Setting:
    canary_rps: float
    ratio: float  # the canary's error rate over stable's
    alpha: float = 0.01
    tolerance: float = 0.25


def update(
    log_ratios: Floats,
    x_c: Floats,
    n_c: Floats,
    x_s: Floats,
    n_s: Floats,
    rho0: float,
    upward: bool = True,
    alternatives: tuple[float, ...] = sequential.ALTERNATIVES,
) -> Floats:
    """sequential.update for many rollouts at once (the unit tests hold them equal)."""
    total = n_c + n_s
    share = np.divide(n_c, total, out=np.zeros_like(n_c), where=total > 0)
    informative = (n_c > 0) & (n_s > 0) & (x_c + x_s > 0)
    multiples = np.asarray(alternatives)[None, :]
    multiples = multiples if upward else 1.0 / multiples
    share = np.clip(share, 1e-12, 1 - 1e-12)[:, None]
    theta0 = share * rho0 / (share * rho0 + 1 - share)
    theta = share * rho0 * multiples / (share * rho0 * multiples + 1 - share)
    step = x_c[:, None] * np.log(theta / theta0) + x_s[:, None] * (
        np.log1p(-theta) - np.log1p(-theta0)
    )
    return np.asarray(log_ratios + np.where(informative[:, None], step, 0.0), dtype=np.float64)


def evidence(log_ratios: Floats) -> Floats:
    """sequential.evidence for many rollouts (capped where a float ends)."""
    top = log_ratios.max(axis=1)
    mean = np.exp(log_ratios - top[:, None]).mean(axis=1)
    return np.asarray(np.exp(np.minimum(top, 700.0)) * mean, dtype=np.float64)


def sequential_rollbacks(setting: Setting, runs: int, rng: np.random.Generator) -> Floats:
    """Seconds from the canary's first traffic to rollback per run (inf: never)."""
    stable_rps = setting.canary_rps * (1 - WEIGHT) / WEIGHT
    canary_errors = min(1.0, STABLE_ERRORS * setting.ratio)
    log_ratios = np.zeros((runs, len(sequential.ALTERNATIVES)))
    rolled = np.full(runs, math.inf)
    boundary = sequential.boundary(setting.alpha)
    for look in range(1, int(DURATION / SCRAPE) + 1):
        n_c = rng.poisson(setting.canary_rps * SCRAPE, runs).astype(float)
        n_s = rng.poisson(stable_rps * SCRAPE, runs).astype(float)
        x_c = rng.binomial(n_c.astype(int), canary_errors).astype(float)
        x_s = rng.binomial(n_s.astype(int), STABLE_ERRORS).astype(float)
        log_ratios = update(log_ratios, x_c, n_c, x_s, n_s, 1.0 + setting.tolerance)
        crossed = (evidence(log_ratios) >= boundary) & np.isinf(rolled)
        rolled[crossed] = look * SCRAPE
    return rolled


def goals_met(
    canary_rate: float,
    stable_rate: float,
    rho0: float,
    upward: bool,
    runs: int,
    rng: np.random.Generator,
    canary_rps: float = 20.0,
    alpha: float = 0.01,
    alternatives: tuple[float, ...] = sequential.GOAL_ALTERNATIVES,
) -> Floats:
    """Seconds until a rate test rejected (inf: never in ten minutes): H0 "rho beyond
    rho0" (below it when upward) reaching 1 / alpha, a canary at `canary_rps` beside
    stable at 19 times that. A goal shown, or (with the guard's alternatives) a
    rollback."""
    stable_rps = canary_rps * (1 - WEIGHT) / WEIGHT
    log_ratios = np.zeros((runs, len(alternatives)))
    met = np.full(runs, math.inf)
    for look in range(1, int(DURATION / SCRAPE) + 1):
        n_c = rng.poisson(canary_rps * SCRAPE, runs).astype(float)
        n_s = rng.poisson(stable_rps * SCRAPE, runs).astype(float)
        x_c = rng.binomial(n_c.astype(int), canary_rate).astype(float)
        x_s = rng.binomial(n_s.astype(int), stable_rate).astype(float)
        log_ratios = update(log_ratios, x_c, n_c, x_s, n_s, rho0, upward, alternatives)
        crossed = (evidence(log_ratios) >= 1 / alpha) & np.isinf(met)
        met[crossed] = look * SCRAPE
    return met


def threshold_rollbacks(setting: Setting, runs: int, rng: np.random.Generator) -> Floats:
    """Today's judge: the canary's error rate per interval against max; the failure
    after failureLimit of them rolls back."""
    canary_errors = min(1.0, STABLE_ERRORS * setting.ratio)
    rolled = np.full(runs, math.inf)
    failures = np.zeros(runs, dtype=int)
    for run in range(1, int(DURATION / INTERVAL) + 1):
        n = rng.poisson(setting.canary_rps * INTERVAL, runs)
        x = rng.binomial(n, canary_errors)
        rate = np.divide(x, n, out=np.zeros(runs), where=n > 0)
        failures += (n >= MIN_SAMPLE) & (rate > THRESHOLD)
        crossed = (failures > FAILURE_LIMIT) & np.isinf(rolled)
        rolled[crossed] = run * INTERVAL
    return rolled


def summary(rolled: Floats) -> dict[str, Any]:
    """Share rolled back, and the median and p90 time to rollback (None: not reached)."""
    ordered = np.sort(rolled)

    def quantile(q: float) -> float | None:
        value = ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]
        return float(value) if math.isfinite(value) else None

    return {
        "rolled_back": float(np.isfinite(rolled).mean()),
        "median_s": quantile(0.5),
        "p90_s": quantile(0.9),
    }


def run(runs: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for rps in (1.0, 5.0, 20.0, 100.0):
        for ratio in (1.0, 2.0, 5.0, 50.0):
            setting = Setting(rps, ratio)
            rows.append(
                {
                    "canary_rps": rps,
                    "canary_error_rate": STABLE_ERRORS * ratio,
                    "ratio": ratio,
                    "sequential": summary(sequential_rollbacks(setting, runs, rng)),
                    "threshold": summary(threshold_rollbacks(setting, runs, rng)),
                }
            )
    return rows


def _cell(result: dict[str, Any], ratio: float) -> str:
    share = f"{100 * result['rolled_back']:.1f}%"
    if ratio == 1.0:
        return f"{share} (false)"
    if result["median_s"] is None:
        return f"median not reached ({share})"
    p90 = f"{result['p90_s']:.0f}" if result["p90_s"] is not None else "never"
    return f"{result['median_s']:.0f} / {p90} s ({share})"


def markdown(rows: list[dict[str, Any]], runs: int) -> str:
    lines = [
        "# The sequential judge against the threshold judge (simulation)",
        "",
        f"{runs} simulated 10-minute rollouts per cell; the canary at a 5% weight, stable "
        f"erring on {100 * STABLE_ERRORS:.0f}% of requests. Sequential: falseRollbackRate "
        "0.01, tolerance 0.25, a look every 1 s scrape. Threshold: errorRate max "
        f"{THRESHOLD}, interval {INTERVAL:.0f}s, minSampleSize {MIN_SAMPLE}, failureLimit "
        f"{FAILURE_LIMIT} (the defaults but max). Cells: time to rollback median / p90 "
        "(share of rollouts rolled back); with no difference (1x), every rollback is false.",
        "",
        "| canary req/s | canary errors | sequential | threshold |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['canary_rps']:g} | {100 * row['canary_error_rate']:g}% "
            f"({row['ratio']:g}x) | {_cell(row['sequential'], row['ratio'])} | "
            f"{_cell(row['threshold'], row['ratio'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    rows = run(args.runs, args.seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "judge_simulation.json").write_text(
        json.dumps({"runs": args.runs, "seed": args.seed, "rows": rows}, indent=2) + "\n"
    )
    text = markdown(rows, args.runs)
    (RESULTS / "judge_simulation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
