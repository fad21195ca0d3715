"""A canary within a GPU budget, on the real scheduler: a simulated node offers exactly
replicas + maxSurge GPUs to the model's pods, each pod asks for one. A good canary
walks 10/50/100% and is promoted, a bad one is rolled back, and meanwhile no pod is
ever Pending for lack of a GPU and the ready pods never drop below replicas - 1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch

from testenv.controlplane import KWOK_NODE_ANNOTATION
from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario

GPU = "nvidia.com/gpu"
POOL = "modelrollout.test/gpu-pool"
REPLICAS, SURGE = 4, 1
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "2s"}},
    {"setWeight": 50},
    {"pause": {"duration": "2s"}},
    {"setWeight": 100},
    {"pause": {"duration": "2s"}},
]


@dataclass
class PodWatch:
    """Every pod of the namespace as a watch delivers it: who was Unschedulable, and
    the fewest Ready pods seen once `armed`."""

    core: client.CoreV1Api
    namespace: str
    ready: dict[str, bool] = field(default_factory=dict)
    unschedulable: list[str] = field(default_factory=list)
    fewest_ready: int | None = None
    armed: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        """From the last version seen, across reconnects (as testenv's RouteRecorder)."""
        version = None
        while not self._stop.is_set():
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                self.core.list_namespaced_pod,
                self.namespace,
                resource_version=version,
                timeout_seconds=2,
            )
            try:
                for event in stream:
                    version = event["object"].metadata.resource_version
                    self._see(event["type"], event["object"])
            except client.ApiException as exc:
                if exc.status != 410:
                    raise
                version = None
            except (urllib3.exceptions.HTTPError, OSError):
                self._stop.wait(0.2)

    def _see(self, kind: str, pod: Any) -> None:
        name, conditions = pod.metadata.name, pod.status.conditions or []
        for c in conditions:
            if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
                self.unschedulable.append(f"{name}: {c.message}")
        gone = kind == "DELETED" or pod.metadata.deletion_timestamp is not None
        self.ready[name] = not gone and any(
            c.type == "Ready" and c.status == "True" for c in conditions
        )
        if self.armed:
            count = sum(self.ready.values())
            self.fewest_ready = (
                count if self.fewest_ready is None else min(self.fewest_ready, count)
            )

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def gpu_node(api: client.ApiClient, namespace: str) -> Iterator[str]:
    """A simulated node with exactly replicas + maxSurge GPUs, tainted for this test."""
    core = client.CoreV1Api(api)
    name = f"kwok-gpu-{namespace}"[:63]
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110", GPU: str(REPLICAS + SURGE)}
    core.create_node(
        client.V1Node(
            metadata=client.V1ObjectMeta(
                name=name,
                annotations={KWOK_NODE_ANNOTATION: "fake"},
                labels={"kubernetes.io/hostname": name, "type": "kwok", POOL: namespace},
            ),
            spec=client.V1NodeSpec(
                taints=[client.V1Taint(key=POOL, value=namespace, effect="NoSchedule")]
            ),
            status=client.V1NodeStatus(capacity=capacity, allocatable=capacity),
        )
    )

    def ready() -> bool:
        node = core.read_node(name)
        return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])

    wait_until(ready, timeout=60, what=f"node {name} Ready")
    yield name
    core.delete_node(name)


def gpu_template(s: Scenario, version: str) -> dict[str, Any]:
    return {
        "spec": {
            "nodeSelector": {POOL: s.namespace},
            "tolerations": [{"key": POOL, "value": s.namespace, "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "server",
                    "image": f"example.test/{s.name}:{version}",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"limits": {GPU: "1"}},
                }
            ],
        }
    }


def roll(s: Scenario, version: str) -> None:
    s.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        s.namespace,
        PLURAL,
        s.name,
        {"spec": {"model": {"version": version}, "template": gpu_template(s, version)}},
    )


def test_a_canary_within_a_gpu_budget_never_leaves_a_pod_pending(
    make_scenario: Callable[..., Scenario], gpu_node: str
) -> None:
    s = make_scenario("gpu")
    s.traffic("1.0.0", GOOD)
    strategy = {
        "canary": {
            "steps": STEPS,
            "capacity": {"maxSurge": SURGE},
            "scaleDownDelay": "2s",
            "abortScaleDownDelay": "2s",
        }
    }
    pods = PodWatch(s.core, s.namespace)
    pods.start()
    try:
        s.create("1.0.0", replicas=REPLICAS, strategy=strategy, template=gpu_template(s, "1.0.0"))
        s.wait_healthy("1.0.0", timeout=120)
        wait_until(lambda: sum(pods.ready.values()) == REPLICAS, timeout=30, what="4 ready")
        pods.armed = True

        s.traffic("2.0.0", GOOD)
        roll(s, "2.0.0")
        s.wait_healthy("2.0.0", timeout=180)
        assert s.recorder is not None
        weights = s.recorder.weights
        assert {10, 50, 100} <= set(weights), f"the steps' weights: {weights}"
        moved = [m for _, r, m in s.events() if r == "WeightMoved"]
        assert moved, "stable gave way pod by pod: some weight moved within the budget"

        s.traffic("3.0.0", BAD)
        roll(s, "3.0.0")
        status = s.wait_status(lambda st: st.get("phase") == "RolledBack", "rolled back", 180)
        assert status["stable"]["version"] == "2.0.0"
        s.wait_status(lambda st: not st.get("returning"), "traffic handed back", 120)
        stable = s.status()["stable"]["revision"]
        wait_until(lambda: sum(s.pods(stable).values()) == REPLICAS, timeout=60, what="stable full")
    finally:
        pods.stop()
    assert pods.unschedulable == [], "a pod waited for a GPU"
    assert pods.fewest_ready is not None
    assert pods.fewest_ready >= REPLICAS - 1
