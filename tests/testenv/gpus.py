"""GPUs on simulated nodes, for capacity tests and benchmarks: a kwok node offering a
given number of `nvidia.com/gpu` to one namespace's pods (tainted for it), a pod template
asking for one each, and a watch of the namespace's pods that keeps the figures a budget
is judged by (peak pods and GPUs held, pods unschedulable, fewest Ready)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from testenv.controlplane import KWOK_NODE_ANNOTATION
from testenv.procs import wait_until
from testenv.watching import follow

GPU = "nvidia.com/gpu"
POOL = "modelrollout.test/gpu-pool"


def add_gpu_node(core: client.CoreV1Api, namespace: str, gpus: int) -> str:
    """A Ready simulated node with `gpus` GPUs that only `namespace`'s pods may use."""
    name = f"kwok-gpu-{namespace}"[:63]
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110", GPU: str(gpus)}
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
        status = core.read_node(name).status
        conditions = (status.conditions if status else None) or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    wait_until(ready, timeout=60, what=f"node {name} Ready")
    return name


def gpu_template(namespace: str, image: str) -> dict[str, Any]:
    """A pod template asking for one GPU, on `namespace`'s GPU node only."""
    return {
        "spec": {
            "nodeSelector": {POOL: namespace},
            "tolerations": [{"key": POOL, "value": namespace, "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "server",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"limits": {GPU: "1"}},
                }
            ],
        }
    }


@dataclass
class PodWatch:
    """Every pod of a namespace as a watch delivers it. Pods hold their GPU from when
    they are bound to a node until they are gone (terminating ones included)."""

    core: client.CoreV1Api
    namespace: str
    ready: dict[str, bool] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)  # pod -> GPUs it asks for
    unschedulable: list[str] = field(default_factory=list)
    fewest_ready: int | None = None
    peak_pods: int = 0
    peak_gpus: int = 0
    armed: bool = False  # count fewest Ready and peaks from now on
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> PodWatch:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def rearm(self) -> None:
        self.fewest_ready, self.armed = None, True
        self.peak_pods, self.peak_gpus = len(self.bound), sum(self.bound.values())

    def _run(self) -> None:
        follow(self._stop, self.core.list_namespaced_pod, self.namespace, on_event=self._see)

    def _see(self, kind: str, pod: Any) -> None:
        name, conditions = pod.metadata.name, pod.status.conditions or []
        for c in conditions:
            if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
                self.unschedulable.append(f"{name}: {c.message}")
        if kind == "DELETED":
            self.bound.pop(name, None)
        elif pod.spec.node_name:
            self.bound[name] = sum(
                int((c.resources.limits or {}).get(GPU, 0)) if c.resources else 0
                for c in pod.spec.containers
            )
        terminating = kind == "DELETED" or pod.metadata.deletion_timestamp is not None
        self.ready[name] = not terminating and any(
            c.type == "Ready" and c.status == "True" for c in conditions
        )
        if self.armed:
            count = sum(self.ready.values())
            fewest = self.fewest_ready
            self.fewest_ready = count if fewest is None else min(fewest, count)
            self.peak_pods = max(self.peak_pods, len(self.bound))
            self.peak_gpus = max(self.peak_gpus, sum(self.bound.values()))

    def stop(self) -> None:
        self._stop.set()
