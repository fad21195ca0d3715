"""Benchmark: the sequential judge in the traffic lab (real Envoy, model servers,
Prometheus; the operator as a process), with the analysis interval at 60 s so that
only the judge can act within it.

1. Detection: a version failing half its requests at a 20% first step (20 req/s on the
   canary at 100 req/s): from its first answered request to Envoy giving it no more
   traffic. Goal: within 3 s. Also the share of all requests that failed meanwhile.
2. False rollbacks: good versions rolled out through 20% and 50% steps under the judge.
   Goal: at most 1% rolled back (the simulation measures the rate; this checks that
   real counts, with increase()'s extrapolation and scrape timing, do not add any).

    python tests/bench/judge_lab.py --runs 5 --good-runs 10
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from rollouts import BAD, Bench
from rollouts_report import RPS

from testenv import settings
from testenv.prometheus import SCRAPE_INTERVAL
from testenv.stack import running_stack

RESULTS = Path(__file__).parent / "results"
FIRST_WEIGHT = 20
HELD = {
    "canary": {"steps": [{"setWeight": FIRST_WEIGHT}, {"pause": {}}], "abortScaleDownDelay": "5s"}
}
GOOD = {
    "canary": {
        "steps": [
            {"setWeight": FIRST_WEIGHT},
            {"pause": {"duration": "20s"}},
            {"setWeight": 50},
            {"pause": {"duration": "10s"}},
        ],
        "scaleDownDelay": "5s",
    }
}


def judged(prometheus_url: str) -> dict[str, Any]:
    return {
        "prometheus": {"url": prometheus_url, "timeout": "2s", "scrapeInterval": SCRAPE_INTERVAL},
        "interval": "60s",
        "minSampleSize": 20,
        "metrics": [],
        "judge": {
            "falseRollbackRate": 0.01,
            "checks": [{"kind": "errors"}, {"kind": "latency", "threshold": "500ms"}],
        },
    }


def failed(bench: Bench) -> dict[str, Any]:
    record, _ = bench.rollout(HELD, "2.0.0", "60s", BAD, judged(bench.prometheus.url))
    assert record.outcome == "RolledBack", record
    served = [o for o in record.outcomes if o.version == "2.0.0"]
    first_served = served[0].sent
    zero = next(at for at, share in record.shares if at > first_served and share == 0.0)
    # From the bad version's first answer until Envoy sent it nothing more.
    exposed = [o for o in record.outcomes if first_served <= o.sent < zero]
    return {
        "detection_s": round(zero - first_served, 2),
        "requests": len(exposed),
        "failed": sum(not o.ok for o in exposed),
        "failed_share": sum(not o.ok for o in exposed) / len(exposed),
        "bad_version_requests": len(served),
        "reason": record.reason,
    }


def good(bench: Bench) -> dict[str, Any]:
    record, _ = bench.rollout(GOOD, "2.0.0", "60s", None, judged(bench.prometheus.url))
    return {
        "outcome": record.outcome,
        "reason": record.reason,
        "seconds_to_decision": round(record.seconds_to_decision, 1),
        "failed": record.failed,
    }


def markdown(bad: list[dict[str, Any]], fine: list[dict[str, Any]]) -> str:
    detection = [r["detection_s"] for r in bad]
    false = sum(r["outcome"] != "Promoted" for r in fine)
    met = "met" if max(detection) <= 3 else "not met"
    return "\n".join(
        [
            "# The sequential judge in the traffic lab",
            "",
            f"{RPS:g} req/s through Envoy; the first step gives the canary {FIRST_WEIGHT}% "
            f"({RPS * FIRST_WEIGHT / 100:g} req/s); analysis interval 60 s, judge "
            "falseRollbackRate 0.01 with a 500ms latency threshold, scrape 1 s.",
            "",
            "| figure | value | goal |",
            "|---|---|---|",
            f"| failing version's first answer -> Envoy weight 0 (median / max of "
            f"{len(bad)}) | {statistics.median(detection):.2f} / {max(detection):.2f} s | "
            f"<= 3 s ({met}) |",
            f"| requests failed meanwhile, of all users' (sum of {len(bad)} runs) | "
            f"{sum(r['failed'] for r in bad)} of {sum(r['requests'] for r in bad)} | - |",
            f"| good versions rolled back (false) | {false} of {len(fine)} | <= 1% |",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--good-runs", type=int, default=10)
    args = parser.parse_args()
    workdir = settings.CACHE_DIR / "bench-judge"
    bad: list[dict[str, Any]] = []
    fine: list[dict[str, Any]] = []
    with running_stack(workdir) as stack:
        bench = Bench(stack.api, stack.prometheus, workdir / "labs")
        for run in range(1, args.runs + 1):
            bad.append(failed(bench))
            print(f"run {run}: failed canary {bad[-1]}", flush=True)
        for run in range(1, args.good_runs + 1):
            fine.append(good(bench))
            print(f"run {run}: good canary {fine[-1]}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "judge_lab.json").write_text(
        json.dumps({"failed": bad, "good": fine}, indent=2) + "\n"
    )
    text = markdown(bad, fine)
    (RESULTS / "judge_lab.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
