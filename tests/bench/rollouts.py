"""Benchmark: what rollouts cost in requests, on the traffic lab (real Envoy, model
servers and load; the operator as a process event-driven).

1. Detection: from a bad version (failing half its requests) answering its first
   request to Envoy giving it no more traffic, at analysis intervals 10 s and 30 s.
   Goal: at most two intervals plus one scrape interval.
2. The share of all requests that failed during that failed canary (first step 5%).
   Goal: under 0.5%.
3. Failed requests during a successful canary and a successful blue/green rollout,
   through promotion and the old version's scale-down. Goal: 0.
4. Model pods restarted (or replaced) by promotion. Goal: 0.

    python tests/bench/rollouts.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from kubernetes import client

from lab.lab import Lab, lab_model_deployment
from lab.record import RolloutRecord, old_pods_gone, play
from testenv import settings
from testenv.namespaces import temporary_namespace
from testenv.prometheus import SCRAPE_INTERVAL, LocalPrometheus
from testenv.stack import running_stack

RESULTS = Path(__file__).parent / "results"
NAME = "iris"
RPS = 100.0
BAD = {"MODEL_FAULT_ERROR_RATE": "0.5"}


def analysis(prometheus_url: str, interval: str) -> dict[str, Any]:
    return {
        "prometheus": {"url": prometheus_url, "timeout": "2s", "scrapeInterval": SCRAPE_INTERVAL},
        "interval": interval,
        "failureLimit": 0,
        "minSampleSize": 20,
        "metrics": [{"name": "error-rate", "template": "errorRate", "max": 0.05}],
    }


CANARY_HELD_AT_5 = {
    "canary": {"steps": [{"setWeight": 5}, {"pause": {}}], "abortScaleDownDelay": "5s"}
}
CANARY = {
    "canary": {
        "steps": [
            {"setWeight": 5},
            {"pause": {"duration": "5s"}},
            {"setWeight": 25},
            {"pause": {"duration": "5s"}},
            {"setWeight": 50},
            {"pause": {"duration": "5s"}},
        ],
        "scaleDownDelay": "5s",
    }
}
BLUE_GREEN = {"blueGreen": {"autoPromotionAfter": "5s", "scaleDownDelay": "5s"}}


class Bench:
    def __init__(self, api: client.ApiClient, prometheus: LocalPrometheus, workdir: Path) -> None:
        self.api, self.prometheus, self.workdir = api, prometheus, workdir

    def rollout(
        self, strategy: dict[str, Any], version: str, interval: str, faults: dict[str, str] | None
    ) -> tuple[RolloutRecord, dict[str, Any]]:
        """1.0.0 Healthy under load, then a rollout of `version`, until the old pods are gone."""
        with temporary_namespace(self.api) as namespace:
            lab = Lab(self.api, namespace, self.prometheus, self.workdir / namespace)
            with lab:
                body = lab_model_deployment(
                    NAME,
                    "1.0.0",
                    self.prometheus.url,
                    strategy=strategy,
                    analysis=analysis(self.prometheus.url, interval),
                )
                if "blueGreen" in strategy:
                    del body["spec"]["analysis"]  # a preview gets no live traffic to judge
                lab.deploy(body)
                load = lab.load(RPS)
                canary_pods: set[str] = set()

                def watch_pods(record: RolloutRecord, status: dict[str, Any]) -> None:
                    if (status.get("canary") or {}).get("version") == version:
                        canary_pods.update(
                            e.uid for e in lab.kubelet.endpoints() if e.version == version
                        )

                keep = "1.0.0" if faults else version
                record = play(
                    lab,
                    NAME,
                    version,
                    load,
                    faults,
                    settle=old_pods_gone(lab, keep),
                    on_poll=watch_pods,
                )
                after = {e.uid: e for e in lab.kubelet.endpoints() if e.version == version}
                extra = {
                    "canary_pods": len(canary_pods),
                    "restarted": sum(1 for uid in canary_pods if uid not in after)
                    + sum(e.restarts for e in after.values()),
                }
                return record, extra

    def failed_canary(self, interval: str) -> dict[str, Any]:
        record, _ = self.rollout(CANARY_HELD_AT_5, "2.0.0", interval, BAD)
        assert record.outcome == "RolledBack", record
        served = [o for o in record.outcomes if o.version == "2.0.0"]
        first_served = served[0].sent
        zero = next(at for at, share in record.shares if at > first_served and share == 0.0)
        during = [o for o in record.outcomes if o.sent < zero]
        with_weight = [o for o in during if o.sent >= first_served]
        return {
            "interval": interval,
            "detection_s": round(zero - first_served, 2),
            "requests": len(during),
            "failed": sum(not o.ok for o in during),
            "failed_share": sum(not o.ok for o in during) / len(during),
            "failed_share_while_weighted": sum(not o.ok for o in with_weight) / len(with_weight),
            "bad_version_requests": len(served),
            "reason": record.reason,
        }

    def successful(self, kind: str) -> dict[str, Any]:
        strategy = CANARY if kind == "canary" else BLUE_GREEN
        record, extra = self.rollout(strategy, "2.0.0", "5s", None)
        assert record.outcome == "Promoted", record
        return {
            "strategy": kind,
            "requests": len(record.outcomes),
            "failed": record.failed,
            "pods_restarted_by_promotion": extra["restarted"],
            "canary_pods_before_promotion": extra["canary_pods"],
            "seconds_to_decision": round(record.seconds_to_decision, 1),
        }


def summarize(
    failed: dict[str, list[dict[str, Any]]], good: list[dict[str, Any]]
) -> dict[str, Any]:
    scrape = float(SCRAPE_INTERVAL.rstrip("s"))
    detection = {}
    for interval, runs in failed.items():
        values = [r["detection_s"] for r in runs]
        goal = 2 * float(interval.rstrip("s")) + scrape
        detection[interval] = {
            "median_s": statistics.median(values),
            "max_s": max(values),
            "goal_s": goal,
            "goal_met": max(values) <= goal,
        }
    shares = [r["failed_share"] for runs in failed.values() for r in runs]
    return {
        "benchmark": "rollouts",
        "requests_per_second": RPS,
        "operator_loop": "event-driven",
        "scrape_interval": SCRAPE_INTERVAL,
        "detection": detection,
        "failed_canary_share": {
            "median": statistics.median(shares),
            "max": max(shares),
            "goal": 0.005,
            "goal_met": max(shares) < 0.005,
        },
        "successful_rollout_failed_requests": {
            "total": sum(r["failed"] for r in good),
            "goal": 0,
            "goal_met": all(r["failed"] == 0 for r in good),
        },
        "pods_restarted_by_promotion": {
            "total": sum(r["pods_restarted_by_promotion"] for r in good),
            "goal": 0,
            "goal_met": all(r["pods_restarted_by_promotion"] == 0 for r in good),
        },
        "failed_canary_runs": failed,
        "successful_runs": good,
    }


def markdown(s: dict[str, Any]) -> str:
    def met(flag: bool) -> str:
        return "met" if flag else "**not met**"

    lines = [
        f"# Rollouts on the traffic lab ({s['requests_per_second']:.0f} requests/s through Envoy, "
        f"scrape {s['scrape_interval']})",
        "",
        "| measure | median | max | goal | |",
        "|---|---|---|---|---|",
    ]
    for interval, d in s["detection"].items():
        lines.append(
            f"| 1. bad version's first request -> no traffic (interval {interval}) "
            f"| {d['median_s']} s | {d['max_s']} s | <= {d['goal_s']} s | {met(d['goal_met'])} |"
        )
    f = s["failed_canary_share"]
    lines.append(
        f"| 2. requests failed during a failed canary (5% step, 50% failing) "
        f"| {100 * f['median']:.2f}% | {100 * f['max']:.2f}% | < 0.5% | {met(f['goal_met'])} |"
    )
    g, p = s["successful_rollout_failed_requests"], s["pods_restarted_by_promotion"]
    lines.append(
        f"| 3. failed requests, successful canary + blue/green (all runs) | | {g['total']} | 0 "
        f"| {met(g['goal_met'])} |"
    )
    lines.append(
        f"| 4. model pods restarted by promotion (all runs) | | {p['total']} | 0 "
        f"| {met(p['goal_met'])} |"
    )
    lines += [
        "",
        "Why (2) sits near 2.5%: while a version failing half its requests holds 5% of the "
        "traffic, 2.5% of all requests fail, and a verdict needs one full analysis window of "
        "its requests, so the share is about 2.5% times the part of the canary's life it held "
        "weight. Under 0.5% needs the version judged before it gets live weight (mirrored "
        "traffic, a 0% smoke test); a faster verdict alone cannot get there.",
        "",
        "## Failed canaries",
        "",
        "| interval | detection (s) | requests | failed | failed share | share while weighted |",
        "|---|---|---|---|---|---|",
    ]
    for runs in s["failed_canary_runs"].values():
        for r in runs:
            lines.append(
                f"| {r['interval']} | {r['detection_s']} | {r['requests']} | {r['failed']} "
                f"| {100 * r['failed_share']:.2f}% "
                f"| {100 * r['failed_share_while_weighted']:.2f}% |"
            )
    lines += [
        "",
        "## Successful rollouts",
        "",
        "| strategy | requests | failed | canary pods | restarted by promotion "
        "| time to decision (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in s["successful_runs"]:
        lines.append(
            f"| {r['strategy']} | {r['requests']} | {r['failed']} "
            f"| {r['canary_pods_before_promotion']} | {r['pods_restarted_by_promotion']} "
            f"| {r['seconds_to_decision']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--intervals", default="10s,30s")
    args = parser.parse_args()
    workdir = settings.CACHE_DIR / "bench-rollouts"
    failed: dict[str, list[dict[str, Any]]] = {i: [] for i in args.intervals.split(",")}
    good: list[dict[str, Any]] = []
    with running_stack(workdir) as stack:
        bench = Bench(stack.api, stack.prometheus, workdir / "labs")
        for run in range(1, args.runs + 1):
            for interval in failed:
                failed[interval].append(bench.failed_canary(interval))
                print(f"run {run}: failed canary {failed[interval][-1]}", flush=True)
            for kind in ("canary", "blueGreen"):
                good.append(bench.successful(kind))
                print(f"run {run}: {good[-1]}", flush=True)
    summary = summarize(failed, good)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollouts.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "rollouts.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
