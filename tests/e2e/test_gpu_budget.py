"""A canary within a GPU budget, on the real scheduler: a simulated node offers exactly
replicas + maxSurge GPUs to the model's pods, each pod asks for one. A good canary
walks 10/50/100% and is promoted, a bad one is rolled back, and meanwhile no pod is
ever Pending for lack of a GPU and the ready pods never drop below replicas - 1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from testenv import gpus
from testenv.exporter import Traffic
from testenv.gpus import PodWatch, add_gpu_node
from testenv.procs import wait_until
from testenv.rollouts import Scenario, steps_to_full

REPLICAS, SURGE = 4, 1
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
STEPS = steps_to_full("2s")


@pytest.fixture
def gpu_node(api: client.ApiClient, namespace: str) -> Iterator[str]:
    """A simulated node with exactly replicas + maxSurge GPUs, tainted for this test."""
    core = client.CoreV1Api(api)
    name = add_gpu_node(core, namespace, REPLICAS + SURGE)
    yield name
    core.delete_node(name)


def gpu_template(s: Scenario, version: str) -> dict[str, Any]:
    return gpus.gpu_template(s.namespace, f"example.test/{s.name}:{version}")


def roll(s: Scenario, version: str) -> None:
    s.patch({"spec": {"model": {"version": version}, "template": gpu_template(s, version)}})


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
    pods = PodWatch(s.core, s.namespace).start()
    try:
        s.create("1.0.0", replicas=REPLICAS, strategy=strategy, template=gpu_template(s, "1.0.0"))
        s.wait_healthy("1.0.0", timeout=120)
        wait_until(lambda: sum(pods.ready.values()) == REPLICAS, timeout=30, what="4 ready")
        pods.rearm()

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
    assert pods.peak_pods <= REPLICAS + SURGE
    assert pods.peak_gpus <= REPLICAS + SURGE
    assert pods.fewest_ready is not None
    assert pods.fewest_ready >= REPLICAS - 1
