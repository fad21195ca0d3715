"""Capacity: what a GPU budget and a rollout queue cost, on the project's control plane
(kwok nodes, the real scheduler), a real Prometheus judging every rollout.

1. A 4-replica model, one GPU per pod, on a node with 8 GPUs: a canary through
   10/50/100% and promotion, without a budget, with maxSurge 1 and with maxSurge 0.
   Per mode: the most pods (and so GPUs) held at once, and the time from the version
   change to Healthy on the new version.
2. A burst: 50 ModelDeployments change version at once under --max-rollouts=5: the time
   until all are promoted, and the longest and median wait in the queue (from the
   version change to the start of its rollout).

    python tests/bench/capacity.py --runs 3 --burst 50 --limit 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv import settings
from testenv.cluster import api_client_for
from testenv.crds import MODELROLLOUT_CRD, apply_crds, upstream_crds
from testenv.environment import Environment
from testenv.exporter import Traffic
from testenv.gpus import PodWatch, add_gpu_node, gpu_template
from testenv.namespaces import temporary_namespace
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.rollouts import Scenario, count_healthy, create_idle, steps_to_full

RESULTS = Path(__file__).parent / "results"
REPLICAS = 4
STEPS = steps_to_full("2s")
MODES: dict[str, int | None] = {"no budget": None, "maxSurge 1": 1, "maxSurge 0": 0}


def one_rollout(api: client.ApiClient, env: Environment, surge: int | None) -> dict[str, Any]:
    with temporary_namespace(api, "cap") as namespace:
        core = client.CoreV1Api(api)
        node = add_gpu_node(core, namespace, 2 * REPLICAS)
        s = Scenario(api, namespace, env.prometheus, "gpu")
        pods = PodWatch(core, namespace).start()
        try:
            s.create_route()
            s.traffic("1.0.0", Traffic())
            s.traffic("2.0.0", Traffic())
            canary: dict[str, Any] = {"steps": STEPS, "scaleDownDelay": "1s"}
            if surge is not None:
                canary["capacity"] = {"maxSurge": surge}
            image = "example.test/gpu:{}"
            s.create(
                "1.0.0",
                replicas=REPLICAS,
                strategy={"canary": canary},
                template=gpu_template(namespace, image.format("1.0.0")),
            )
            s.wait_healthy("1.0.0", timeout=180)
            wait_until(lambda: len(pods.bound) == REPLICAS, timeout=60, what="4 pods")
            pods.rearm()
            started = time.monotonic()
            s.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                "gpu",
                {
                    "spec": {
                        "model": {"version": "2.0.0"},
                        "template": gpu_template(namespace, image.format("2.0.0")),
                    }
                },
            )
            s.wait_healthy("2.0.0", timeout=600)
            promoted = time.monotonic() - started
            return {
                "peak_pods": pods.peak_pods,
                "peak_gpus": pods.peak_gpus,
                "seconds_to_promote": round(promoted, 2),
                "fewest_ready": pods.fewest_ready,
                "unschedulable": len(pods.unschedulable),
            }
        finally:
            pods.stop()
            s.close()
            core.delete_node(node)


def burst(api: client.ApiClient, count: int) -> dict[str, Any]:
    with temporary_namespace(api, "burst") as namespace:
        names = [f"m-{i}" for i in range(count)]
        create_idle(api, namespace, names)
        wait_until(lambda: count_healthy(api, namespace) == count, timeout=600, what="all Healthy")
        custom = client.CustomObjectsApi(api)
        changed: dict[str, float] = {}
        started = time.monotonic()
        for name in names:
            patch = {"spec": {"model": {"version": "2.0.0"}}}
            custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)
            changed[name] = time.time()

        def promoted() -> list[dict[str, Any]]:
            listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            return [
                o
                for o in listed["items"]
                if ((o.get("status") or {}).get("stable") or {}).get("version") == "2.0.0"
            ]

        wait_until(lambda: len(promoted()) == count, timeout=1800, what="all promoted", interval=2)
        total = time.monotonic() - started
        waits = []
        for o in promoted():
            entry = next(h for h in o["status"]["history"] if h["version"] == "2.0.0")
            began = datetime.fromisoformat(entry["startedAt"]).timestamp()
            waits.append(max(0.0, began - changed[o["metadata"]["name"]]))
        return {
            "rollouts": count,
            "seconds_until_all_promoted": round(total, 1),
            "longest_queue_wait_s": round(max(waits), 1),
            "median_queue_wait_s": round(statistics.median(waits), 1),
        }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Capacity",
        "",
        f"A {REPLICAS}-replica model, one GPU per pod, a canary through 10/50/100% "
        "(2 s pauses) judged by Prometheus, on kwok nodes:",
        "",
        "| mode | peak pods (GPUs) | fewest Ready | time to promote (median of runs) |",
        "|---|---|---|---|",
    ]
    for mode, runs in results["modes"].items():
        peak = max(r["peak_pods"] for r in runs)
        fewest = min(r["fewest_ready"] for r in runs)
        seconds = statistics.median(r["seconds_to_promote"] for r in runs)
        lines.append(f"| {mode} | {peak} | {fewest} | {seconds:.1f} s |")
    lines += [
        "",
        "kwok's pods are Ready the moment they are bound, so these times show the "
        "operator's pace, not a model's: with one that loads in L seconds, a budgeted "
        "canary waits about L for every pod it has to wait for room for (its weight moves "
        "as pods become ready), an unbudgeted one about L per step.",
    ]
    b = results["burst"]
    lines += [
        "",
        f"A burst of {b['rollouts']} version changes with --max-rollouts={results['limit']}: "
        f"all promoted after {b['seconds_until_all_promoted']} s; the longest wait in the "
        f"queue {b['longest_queue_wait_s']} s (median {b['median_queue_wait_s']} s).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--limit", type=int, default=5)
    args = parser.parse_args()
    workdir = settings.CACHE_DIR / "bench-capacity"
    shutil.rmtree(workdir, ignore_errors=True)
    env = Environment(workdir)
    endpoints = env.start()
    api = api_client_for(endpoints.kubeconfig)
    operator = OperatorProcess(
        endpoints.kubeconfig, workdir / "operator", [f"--max-rollouts={args.limit}"]
    )
    try:
        apply_crds(api, [*upstream_crds("gateway-api"), MODELROLLOUT_CRD])
        operator.start()
        modes = {
            mode: [one_rollout(api, env, surge) for _ in range(args.runs)]
            for mode, surge in MODES.items()
        }
        results = {"limit": args.limit, "modes": modes, "burst": burst(api, args.burst)}
    finally:
        operator.stop()
        env.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "capacity.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "capacity.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
