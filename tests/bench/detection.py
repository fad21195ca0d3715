"""Benchmark: from a canary's errors becoming visible in Prometheus to its weight being 0.

Runs on the real test environment (control plane, Prometheus, the operator as a process
event-driven). Each run: v1 Healthy, v2 canary at 20% passing analysis, then
v2 starts failing half its requests at a random phase of the analysis interval. We
time (a) when Prometheus first shows v2's error rate above the threshold and (b) when
the HTTPRoute gives the canary weight 0. Writes JSON and a markdown table.

    python tests/bench/detection.py --runs 5 --interval 10s
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_api_client import PrometheusConnect

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import MetricConventions
from modelrollout.metrics.promql import error_rate
from modelrollout.metrics.provider import Target
from testenv import settings
from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.prometheus import SCRAPE_INTERVAL, LocalPrometheus
from testenv.rollouts import Scenario
from testenv.stack import running_stack

RESULTS = Path(__file__).parent / "results"
THRESHOLD = 0.05
POLL = 0.05


def one_run(
    api: client.ApiClient, prom: LocalPrometheus, interval: str, rng: random.Random
) -> dict[str, float]:
    core = client.CoreV1Api(api)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    wait_until(
        lambda: bool(
            core.list_namespaced_service_account(
                namespace, field_selector="metadata.name=default"
            ).items
        ),
        timeout=30,
        what="default ServiceAccount",
    )
    s = Scenario(api, namespace, prom, "bench")
    try:
        s.create_route()
        s.traffic("1.0.0", Traffic())
        s.traffic("2.0.0", Traffic())
        analysis = {
            "prometheus": {"url": prom.url, "timeout": "2s", "scrapeInterval": SCRAPE_INTERVAL},
            "interval": interval,
            "failureLimit": 0,
            "minSampleSize": 20,
            "metrics": [{"name": "error-rate", "template": "errorRate", "max": THRESHOLD}],
        }
        steps = {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
        s.create("1.0.0", analysis=analysis, strategy=steps)
        s.wait_healthy("1.0.0")
        s.set_version("2.0.0")
        s.wait_status(
            lambda st: (st.get("analysis") or {}).get("successful", 0) >= 1,
            "a first successful analysis of the canary",
            timeout=120,
        )
        seconds = float(interval.rstrip("s"))
        time.sleep(rng.uniform(0, seconds))  # start failing at a random phase of the interval
        s.traffic("2.0.0", Traffic(error_ratio=0.5))
        flipped = time.monotonic()
        # The same query the operator's errorRate template runs.
        window = parse_duration(interval)
        query = error_rate(Target(namespace, "bench", "2.0.0", "", window), MetricConventions())
        promql = PrometheusConnect(url=prom.url, disable_ssl=True)

        def visible() -> bool:
            result = promql.custom_query(query)
            return bool(result) and float(result[0]["value"][1]) > THRESHOLD

        wait_until(visible, timeout=120, what="errors visible in Prometheus", interval=POLL)
        seen = time.monotonic()
        wait_until(
            lambda: s.route_canary_weight() == 0, timeout=120, what="weight 0", interval=POLL
        )
        zero = time.monotonic()
        # The route is patched before the status is written: wait for the status too.
        s.wait_status(lambda st: st.get("phase") == "RolledBack", "RolledBack", timeout=30)
        return {
            "visible_to_weight_zero_s": round(zero - seen, 2),
            "failing_to_weight_zero_s": round(zero - flipped, 2),
            "failing_to_visible_s": round(seen - flipped, 2),
        }
    finally:
        s.close()
        core.delete_namespace(namespace)


def summarize(runs: list[dict[str, float]], interval: str) -> dict[str, Any]:
    key = "visible_to_weight_zero_s"
    values = [r[key] for r in runs]
    seconds = float(interval.rstrip("s"))
    return {
        "benchmark": "detection",
        "analysis_interval": interval,
        "scrape_interval": "1s",
        "runs": runs,
        "median_visible_to_weight_zero_s": statistics.median(values),
        "max_visible_to_weight_zero_s": max(values),
        "goal_s": 2 * seconds,
        "goal_met": max(values) <= 2 * seconds,
    }


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Detection: errors visible in Prometheus -> canary weight 0 "
        f"(analysis interval {summary['analysis_interval']}, "
        f"scrape {summary['scrape_interval']})",
        "",
        "| run | failing -> visible (s) | visible -> weight 0 (s) | failing -> weight 0 (s) |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(summary["runs"], 1):
        lines.append(
            f"| {i} | {r['failing_to_visible_s']} | {r['visible_to_weight_zero_s']} "
            f"| {r['failing_to_weight_zero_s']} |"
        )
    lines += [
        "",
        f"Median {summary['median_visible_to_weight_zero_s']} s, maximum "
        f"{summary['max_visible_to_weight_zero_s']} s; goal at most {summary['goal_s']} s "
        f"(two intervals): {'met' if summary['goal_met'] else 'NOT met'}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval", default="10s")
    args = parser.parse_args()
    with running_stack(settings.CACHE_DIR / "bench") as stack:
        rng = random.Random(42)
        runs = []
        for i in range(args.runs):
            runs.append(one_run(stack.api, stack.prometheus, args.interval, rng))
            print(f"run {i + 1}/{args.runs}: {runs[-1]}", flush=True)
    summary = summarize(runs, args.interval)
    RESULTS.mkdir(exist_ok=True)
    stem = f"detection-{args.interval}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
