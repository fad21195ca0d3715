"""Benchmark: what rollouts cost in requests, on the traffic lab (real Envoy, model
servers and load; the operator as a process event-driven).

1. Detection: from a bad version (failing half its requests) answering its first
   request to Envoy giving it no more traffic, at analysis intervals 10 s and 30 s.
   Goal: at most two intervals plus one scrape interval.
2. The share of all requests that failed during that failed canary (first step 5%).
   Goal: under 0.5%.
3. The same failed canary with a 100% mirror as its first step: requests failed (as
   users saw them; goal under 0.5%, expected 0) and detection, from Envoy starting to
   mirror to the bad version to Envoy mirroring no more and the rollback recorded.
4. Failed requests during a successful canary and a successful blue/green rollout
   (its preview judged on mirrored traffic), through promotion and the old version's
   scale-down. Goal: 0.
5. Model pods restarted (or replaced) by promotion. Goal: 0.

    python tests/bench/rollouts.py --runs 3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kubernetes import client
from rollouts_report import RPS, markdown, summarize

from lab.lab import Lab, lab_model_deployment
from lab.record import RolloutRecord, old_pods_gone, play
from testenv import settings
from testenv.namespaces import temporary_namespace
from testenv.prometheus import SCRAPE_INTERVAL, LocalPrometheus
from testenv.stack import running_stack

RESULTS = Path(__file__).parent / "results"
NAME = "iris"
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
MIRROR_FIRST = {
    "canary": {
        "steps": [
            {"mirror": {"percent": 100}},
            {"pause": {"duration": "2m"}},
            {"setWeight": 5},
            {"pause": {}},
        ],
        "abortScaleDownDelay": "5s",
    }
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
BLUE_GREEN = {
    "blueGreen": {
        "previewTraffic": {"mirror": {"percent": 100}},  # data for the preview's analysis
        "autoPromotionAfter": "5s",
        "scaleDownDelay": "5s",
    }
}


class Bench:
    def __init__(self, api: client.ApiClient, prometheus: LocalPrometheus, workdir: Path) -> None:
        self.api, self.prometheus, self.workdir = api, prometheus, workdir

    def rollout(
        self,
        strategy: dict[str, Any],
        version: str,
        interval: str,
        faults: dict[str, str] | None,
        judged_by: dict[str, Any] | None = None,
    ) -> tuple[RolloutRecord, dict[str, Any]]:
        """1.0.0 Healthy under load, then a rollout of `version`, until the old pods are
        gone; judged by threshold metrics every `interval`, or by `judged_by`."""
        with temporary_namespace(self.api) as namespace:
            lab = Lab(self.api, namespace, self.prometheus, self.workdir / namespace)
            with lab:
                body = lab_model_deployment(
                    NAME,
                    "1.0.0",
                    self.prometheus.url,
                    strategy=strategy,
                    analysis=judged_by or analysis(self.prometheus.url, interval),
                )
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
                clusters = {e.version: e.cluster for e in lab.kubelet.all_endpoints()}
                extra = {
                    "canary_pods": len(canary_pods),
                    "restarted": sum(1 for uid in canary_pods if uid not in after)
                    + sum(e.restarts for e in after.values()),
                    "envoy": lab.gateway.revision_counts().get(clusters.get(version, ""), {}),
                    "mirrors": [
                        (a.at, a.mirrors.get(record.cluster, 0.0))
                        for a in lab.gateway.history
                        if a.at >= record.started
                    ],
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

    def failed_mirrored_canary(self, interval: str) -> dict[str, Any]:
        record, extra = self.rollout(MIRROR_FIRST, "2.0.0", interval, BAD)
        assert record.outcome == "RolledBack", record
        mirrors = extra["mirrors"]
        # Envoy applies a config before the next request: at 100 requests/s the first
        # copy follows within 10 ms of it.
        began = next(at for at, share in mirrors if share > 0)
        ended = next(at for at, share in mirrors if at > began and share == 0)
        during = [o for o in record.outcomes if o.sent < ended]
        return {
            "interval": interval,
            "mirror_to_no_mirror_s": round(ended - began, 2),
            "mirror_to_rollback_recorded_s": round(record.decided - began, 2),
            "requests": len(during),
            "failed": sum(not o.ok for o in during),
            "failed_share": sum(not o.ok for o in during) / len(during),
            "answered_by_bad_version": sum(o.version == "2.0.0" for o in record.outcomes),
            "mirrored_to_bad_version": extra["envoy"].get("total", 0),
            "mirrored_failed": extra["envoy"].get("5xx", 0),
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--intervals", default="10s,30s")
    args = parser.parse_args()
    workdir = settings.CACHE_DIR / "bench-rollouts"
    failed: dict[str, list[dict[str, Any]]] = {i: [] for i in args.intervals.split(",")}
    mirrored: dict[str, list[dict[str, Any]]] = {i: [] for i in failed}
    good: list[dict[str, Any]] = []
    with running_stack(workdir) as stack:
        bench = Bench(stack.api, stack.prometheus, workdir / "labs")
        for run in range(1, args.runs + 1):
            for interval in failed:
                failed[interval].append(bench.failed_canary(interval))
                print(f"run {run}: failed canary {failed[interval][-1]}", flush=True)
                mirrored[interval].append(bench.failed_mirrored_canary(interval))
                print(f"run {run}: failed mirrored canary {mirrored[interval][-1]}", flush=True)
            for kind in ("canary", "blueGreen"):
                good.append(bench.successful(kind))
                print(f"run {run}: {good[-1]}", flush=True)
    summary = summarize(failed, mirrored, good)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollouts.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "rollouts.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
