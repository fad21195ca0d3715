"""Scale: N ModelDeployments on the project's control plane (kwok nodes), each with
1 replica, a canary strategy and its own HTTPRoute, no analysis, beside 10 unrelated
objects per ModelDeployment (another application's Deployments, Services and
EndpointSlices); two operator replicas electing a leader, authenticating as a
ServiceAccount so that kube-apiserver's flow-control metrics count their requests apart
from every other client's.

Per N: apply all -> all Healthy; 60 s idle (RSS of both, CPU, API requests/s: the
replicas' own total, and by verb and resource over the operator's kinds, where other
controllers such as the garbage collector also count; the events its watches delivered
of objects not ours); spec change -> first action (the canary Deployment seen through
a watch), 100 samples; failover (SIGKILL the leader while a person aborts a canary held
at 20% -> the route back to stable; the Lease's acquireTime; all reconciled); clean
shutdown (SIGTERM -> exit, log clean); then the burst (scale_burst.py): every
ModelDeployment changes version at once while a person aborts one rollout.

    python tests/bench/scale.py --sizes 1000,10000 [--unrelated-per-model 10] [--no-burst]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from scale_burst import (  # beside this script
    abort,
    burst_with_an_abort,
    hold_at_20,
    patch,
    percentile,
)
from scale_report import markdown

from testenv import settings
from testenv.apiserver import WRITE_VERBS, dispatched, request_counts
from testenv.cluster import api_client_for
from testenv.controlplane import NODE_CAPACITY, NODE_COUNT, add_nodes
from testenv.crds import MODELROLLOUT_CRD, apply_crds, upstream_crds
from testenv.environment import Environment
from testenv.procs import wait_until
from testenv.replicas import LEASE, Replicas
from testenv.rollouts import count_healthy, create_idle
from testenv.serviceaccounts import service_account_kubeconfig
from testenv.unrelated import foreign_events, unrelated

RESULTS = Path(__file__).parent / "results"
NAMESPACE, SYSTEM = "scale", "modelrollout-system"
IDLE_SECONDS = 60
SAMPLES = 100
UNRELATED_NAMESPACE = "shop"
OPERATOR_KINDS = {
    ("modelrollout.io", "modeldeployments"),
    ("apps", "deployments"),
    ("", "services"),
    ("discovery.k8s.io", "endpointslices"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("", "events"),
    ("coordination.k8s.io", "leases"),
}


def proc_rss_mib(pid: int) -> float:
    """A replica's resident memory: the operator's process and its election process."""
    total = 0.0
    for each in (pid, *children(pid)):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total or math.nan


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def proc_cpu_seconds(pid: int) -> float:
    """A replica's CPU time: the operator's process and its election process."""
    ticks = 0
    for each in (pid, *children(pid)):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class DeploymentsSeen:
    """When each Deployment in the namespace was first seen (a watch, on this clock)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.apps, self.namespace = client.AppsV1Api(api), namespace
        self.first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version = self.apps.list_namespaced_deployment(self.namespace).metadata.resource_version
        while not self._stop.is_set():
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                self.apps.list_namespaced_deployment,
                self.namespace,
                resource_version=version,
                timeout_seconds=5,
            )
            for event in stream:
                meta = event["object"].metadata
                version = meta.resource_version
                self.first_seen.setdefault(meta.name, time.monotonic())

    def now(self) -> dict[str, float]:
        """A copy, to iterate while the watch's thread adds (a dict's copy is atomic)."""
        return self.first_seen.copy()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def new_version_to_canary(
    custom: client.CustomObjectsApi, seen: DeploymentsSeen, name: str
) -> float:
    """Change `name`'s version; seconds from the patch until its canary Deployment is seen."""
    before = set(seen.now())
    sent = time.monotonic()
    patch(custom, NAMESPACE, name, {"spec": {"model": {"version": "2.0.0"}}})

    def canaries() -> list[str]:
        return [d for d in seen.now() if d.startswith(f"{name}-") and d not in before]

    wait_until(lambda: bool(canaries()), timeout=120, what=f"{name}'s canary", interval=0.01)
    return seen.now()[canaries()[0]] - sent


def operator_account(api: client.ApiClient, kubeconfig: Path, workdir: Path) -> Path:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    for name in (NAMESPACE, SYSTEM):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_until(
        lambda: bool(core.list_namespaced_service_account(NAMESPACE).items),
        timeout=60,
        what="the default ServiceAccount",
    )
    core.create_namespaced_service_account(
        SYSTEM, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="operator"))
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name="bench-operator"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name="operator", namespace=SYSTEM)
            ],
        )
    )
    return service_account_kubeconfig(
        api, kubeconfig, SYSTEM, "operator", workdir / "sa.kubeconfig"
    )


def run_size(n: int, unrelated_per_model: int, with_burst: bool) -> dict[str, Any]:
    workdir = settings.CACHE_DIR / f"bench-scale-{n}"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh cluster per size
    environment = Environment(workdir)
    endpoints = environment.start()
    api = api_client_for(endpoints.kubeconfig)
    replicas: Replicas | None = None
    try:
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        wanted_nodes = math.ceil(1.3 * n / int(NODE_CAPACITY["pods"]))
        add_nodes(core, range(NODE_COUNT, max(NODE_COUNT, wanted_nodes)))
        apply_crds(api, [*upstream_crds("gateway-api"), MODELROLLOUT_CRD])
        kubeconfig = operator_account(api, endpoints.kubeconfig, workdir)
        per_kind = math.ceil(unrelated_per_model * n / 3)  # Deployments, Services, slices
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=UNRELATED_NAMESPACE))
        )
        unrelated(api, UNRELATED_NAMESPACE, 0, per_kind)
        print(f"N={n}: {3 * per_kind} unrelated objects", flush=True)
        replicas = Replicas(api, kubeconfig, workdir / "replicas", SYSTEM)
        replicas.start()
        leader = replicas.wait_for_leader(timeout=120)

        started = time.monotonic()
        create_idle(api, NAMESPACE, [f"m-{i}" for i in range(n)])
        applied = time.monotonic() - started
        wait_until(
            lambda: count_healthy(api, NAMESPACE) == n,
            timeout=30 * 60,
            what=f"{n} Healthy",
            interval=2,
        )
        all_healthy = time.monotonic() - started
        print(f"N={n}: applied in {applied:.1f}s, all Healthy after {all_healthy:.1f}s", flush=True)

        # Settled: no reconcile and no write but the Lease's for 5 s.
        last: list[object] = [None]

        def settled() -> bool:
            writes = {
                k: v
                for k, v in request_counts(api).items()
                if k[2] in WRITE_VERBS and (k[3], k[0]) in OPERATOR_KINDS and k[0] != "leases"
            }
            now = (leader.reconciles(), writes)
            unchanged, last[0] = now == last[0], now
            return unchanged

        wait_until(settled, timeout=600, what="the operator quiet", interval=5)
        members = {m.process.pid: m for m in replicas.members if m.process is not None}
        standby = next(pid for pid in members if pid != leader.process.pid)  # type: ignore[union-attr]
        leader_pid = leader.process.pid  # type: ignore[union-attr]
        cpu0 = {pid: proc_cpu_seconds(pid) for pid in members}
        counts0, total0, decided0 = request_counts(api), dispatched(api), leader.reconciles()
        time.sleep(IDLE_SECONDS)  # the measurement window
        cpu = {pid: (proc_cpu_seconds(pid) - cpu0[pid]) / IDLE_SECONDS * 100 for pid in members}
        delta = request_counts(api) - counts0
        by_kind: Counter[str] = Counter()
        for (resource, subresource, verb, group, _code), value in delta.items():
            if (group, resource) in OPERATOR_KINDS and value:
                by_kind[f"{verb} {resource}{'/' + subresource if subresource else ''}"] += value
        idle = {
            "window_s": IDLE_SECONDS,
            "replicas_requests_per_s": (dispatched(api) - total0) / IDLE_SECONDS,
            "by_verb_and_resource_per_s_all_clients": {
                k: v / IDLE_SECONDS for k, v in sorted(by_kind.items())
            },
            "leader_cpu_percent": cpu[leader_pid],
            "standby_cpu_percent": cpu[standby],
            "leader_rss_mib": proc_rss_mib(leader_pid),
            "standby_rss_mib": proc_rss_mib(standby),
            "of_which_election_processes_rss_mib": [
                sum(proc_rss_mib(child) for child in children(pid)) for pid in (leader_pid, standby)
            ],
            "reconciles": leader.reconciles() - decided0,
            "unrelated_objects": 3 * per_kind,
            "foreign_watch_events_leader": foreign_events(
                leader, ("deployments", "services", "endpointslices")
            ),
        }
        print(f"N={n}: idle {idle}", flush=True)

        seen = DeploymentsSeen(api, NAMESPACE)
        latencies = []
        for i in range(min(SAMPLES, n - 1)):  # the last one is for the failover
            latencies.append(new_version_to_canary(custom, seen, f"m-{i}"))
            time.sleep(0.5)  # one change at a time
        first_action = {
            "samples": len(latencies),
            "p50_s": statistics.median(latencies),
            "p99_s": percentile(latencies, 0.99),
            "max_s": max(latencies),
        }
        print(f"N={n}: first action {first_action}", flush=True)

        # The failover a user sees: a canary held at 20%, aborted by a person the moment
        # the leader is killed; the dead leader never saw the request.
        held = f"m-{n - 1}"
        hold_at_20(custom, NAMESPACE, held, "2.0.0")
        killed_wall, killed_at = datetime.now(UTC), time.monotonic()
        killed = replicas.kill(leader)
        abort(custom, NAMESPACE, held)
        aborted = time.monotonic() - killed_at
        successor = replicas.wait_for_leader(timeout=120, besides=killed)
        lease = client.CoordinationV1Api(api).read_namespaced_lease(LEASE, SYSTEM).spec
        assert lease is not None
        assert lease.acquire_time is not None
        wait_until(
            lambda: successor.reconciles() >= n,
            timeout=600,
            what="every object reconciled",
            interval=0.5,
        )
        failover = {
            "lease_taken_s": (lease.acquire_time - killed_wall).total_seconds(),
            "abort_at_the_kill_acted_s": aborted,
            "all_reconciled_s": time.monotonic() - killed_at,
        }
        print(f"N={n}: failover {failover}", flush=True)

        assert successor.process is not None
        assert successor.process.popen is not None
        log_before = successor.logs()
        stopping = time.monotonic()
        os.kill(successor.process.pid, signal.SIGTERM)
        successor.process.popen.wait(timeout=60)
        exit_s = time.monotonic() - stopping
        tail = successor.logs()[len(log_before) :]
        shutdown = {
            "exit_s": exit_s,
            "orphaned_or_unclosed_lines": sum(
                ("orphaned" in line or "Unclosed" in line or "Traceback" in line)
                for line in tail.splitlines()
            ),
            "exit_code": successor.process.popen.returncode,
        }
        print(f"N={n}: shutdown {shutdown}", flush=True)

        burst = None
        if with_burst:
            replicas.wait_for_leader(timeout=120, besides=successor.process.pid)
            names = [f"m-{i}" for i in range(n)]
            burst = burst_with_an_abort(api, NAMESPACE, names, seen, "3.0.0")
        seen.stop()
        print(f"N={n}: burst {burst}", flush=True)
        return {
            "n": n,
            "apply_s": applied,
            "all_healthy_s": all_healthy,
            "idle": idle,
            "first_action": first_action,
            "failover": failover,
            "shutdown": shutdown,
            "burst": burst,
        }
    finally:
        if replicas is not None:
            replicas.stop()
        api.close()  # type: ignore[no-untyped-call]
        environment.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--unrelated-per-model", type=int, default=10)
    parser.add_argument(
        "--no-burst", action="store_true", help="skip the burst (hours at 10,000 on 2 cores)"
    )
    args = parser.parse_args()
    results = [
        run_size(int(n), args.unrelated_per_model, not args.no_burst) for n in args.sizes.split(",")
    ]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "scale.json"
    # Each size takes long: the figures of sizes not run this time are kept.
    kept = json.loads(path.read_text()) if path.exists() else []
    ran = {r["n"] for r in results}
    results = sorted([*(r for r in kept if r["n"] not in ran), *results], key=lambda r: r["n"])
    path.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "scale.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
