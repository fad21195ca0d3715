"""LAB-ONLY: a stand-in kubelet that runs each lab pod as a local model-server process.

The simulated nodes (kwok) run no containers. Pods labelled `lab.modelrollout.io/kubelet`
are left alone by kwok (see hack/kwok/stages.yaml) and run here instead: one
`python -m model_server` process per pod (`lab.llm_server`, the stand-in vLLM, for a
pod labelled `llm`), with the container's env (values and downward-API fieldRefs),
probed on its readiness path. A model server labels its own metrics and is scraped as
a file target; an LLM server does not, and is written as Kubernetes service discovery
would give it (`__meta_kubernetes_*` labels from the pod) for the lab's Prometheus to
relabel (lab.llm_lab.scrape_job). As a kubelet does, it reports
the pod Running, then Ready once the probe passes, and restarts a process that dies
(counting restarts in the pod status). Before a deleted pod's process is stopped, the
gateway must have stopped sending it traffic (the `drained` check), so scale-down
fails no request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from kubernetes import client

from lab.artifact import SOURCE
from lab.loop import Loop
from lab.pod_spec import container_env, discovered, readiness_path, utc_now
from testenv.ports import free_port
from testenv.procs import Process, ProcessDied, wait_until
from testenv.prometheus import LocalPrometheus, write_target

LABEL = "lab.modelrollout.io/kubelet"
LLM = "llm"  # LABEL's value on a pod of the stand-in vLLM
TESTS = Path(__file__).resolve().parents[1]
REVISION_LABEL = "modelrollout.io/revision"
NAME_LABEL = "modelrollout.io/name"
VERSION_ANNOTATION = "modelrollout.io/version"
POLL_SECONDS = 0.2
DRAIN_TIMEOUT_SECONDS = 10.0

log = logging.getLogger("lab.kubelet")


@dataclass
class Endpoint:
    """One running pod: where its process listens and what it serves."""

    uid: str
    pod: str
    cluster: str  # the gateway's Envoy cluster of this revision: "<namespace>.<name>-<revision>"
    version: str
    port: int
    labels: dict[str, str] = field(default_factory=dict)  # the pod's
    ready: bool = False
    pids: list[int] = field(default_factory=list)  # one per start of its process

    @property
    def restarts(self) -> int:
        return max(len(self.pids) - 1, 0)

    @property
    def ip(self) -> str:
        """The pod's IP as the cluster knows it: EndpointSlices refuse loopback
        addresses, so one made from the port stands in (the gateway finds the process
        by the pod's UID, or by this address)."""
        return f"10.250.{self.port // 256}.{self.port % 256}"


class PodRunner:
    """The process of one pod, from start to a drained stop."""

    def __init__(
        self,
        core: client.CoreV1Api,
        pod: Any,
        artifact: Path,
        prometheus: LocalPrometheus,
        log_dir: Path,
        targets: Path | None = None,
    ) -> None:
        """`targets`: where an LLM server's discovered target goes (lab.llm_lab)."""
        self.core, self.prometheus, self.targets = core, prometheus, targets
        self.namespace, self.name = pod.metadata.namespace, pod.metadata.name
        container = pod.spec.containers[0]
        self.container = container.name
        self.probe_path = readiness_path(container)
        labels = pod.metadata.labels or {}
        self.endpoint = Endpoint(
            uid=pod.metadata.uid,
            pod=self.name,
            cluster=f"{self.namespace}.{labels.get(NAME_LABEL)}-{labels.get(REVISION_LABEL)}",
            version=(pod.metadata.annotations or {}).get(VERSION_ANNOTATION, ""),
            port=free_port(),
            labels=dict(labels),
        )
        self.llm = labels.get(LABEL) == LLM
        self.discovered = discovered(pod)
        self.program = "lab.llm_server" if self.llm else "model_server"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(TESTS if self.llm else SOURCE),
            "MODEL_PATH": str(artifact),
            **container_env(pod, container),
            "HOST": "127.0.0.1",
            "PORT": str(self.endpoint.port),
        }
        self.log_path = log_dir / f"{self.name}.log"
        self.process: Process | None = None
        self.terminating = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)

    @property
    def target(self) -> str:
        return f"lab-{self.endpoint.uid}"

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._launch()
            while not self._stopping.wait(POLL_SECONDS):
                assert self.process is not None
                assert self.process.popen is not None
                if self.process.popen.poll() is not None:  # died: restart it, as a kubelet does
                    self.endpoint.ready = False
                    self._report(ready=False)
                    backoff = min(0.5 * 2 ** len(self.endpoint.pids), 10.0)  # CrashLoopBackOff
                    log.warning("pod %s: process exited; restarting in %.0fs", self.name, backoff)
                    if self._stopping.wait(backoff):
                        break
                    self._launch()
        except Exception:
            if not self._stopping.is_set():
                log.exception("pod %s: runner failed", self.name)

    def _launch(self) -> None:
        self.process = Process(
            f"{self.program} {self.name}",
            [sys.executable, "-m", self.program],
            self.log_path,
            env=self.env,
        )
        self.process.start(detach=False)
        self.endpoint.pids.append(self.process.pid)
        self._report(ready=False)
        url = f"http://127.0.0.1:{self.endpoint.port}{self.probe_path}"
        try:
            wait_until(
                lambda: self._stopping.is_set() or requests.get(url, timeout=1).status_code == 200,
                timeout=3600,
                what=f"readiness of pod {self.name}",
                watch=[self.process],
                interval=0.1,
            )
        except ProcessDied:
            return  # the monitor loop restarts it
        if self._stopping.is_set():
            return
        # Scraped before it is Ready, so the analysis sees its first requests.
        address = f"127.0.0.1:{self.endpoint.port}"
        if self.llm and self.targets is not None:  # discovered, for Prometheus to relabel
            write_target(self.targets / f"{self.target}.json", address, self.discovered)
            self.prometheus.wait_scraped(address)
        else:
            self.prometheus.add_target(self.target, address)
        self.endpoint.ready = True
        self._report(ready=True)
        log.info("pod %s: ready on port %d", self.name, self.endpoint.port)

    def _report(self, *, ready: bool) -> None:
        now, flag = utc_now(), "True" if ready else "False"
        ip = self.endpoint.ip
        status = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                {"type": "Ready", "status": flag, "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {
                    "name": self.container,
                    "image": "lab/model-server",
                    "imageID": "",
                    "ready": ready,
                    "started": True,
                    "restartCount": self.endpoint.restarts,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        }
        with contextlib.suppress(client.ApiException):  # the pod may be gone already
            self.core.patch_namespaced_pod_status(self.name, self.namespace, {"status": status})

    def stop(self, drained: Callable[[int], bool]) -> None:
        """Out of the gateway first, then SIGTERM (in-flight requests finish)."""
        self._stopping.set()
        self.endpoint.ready = False
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: drained(self.endpoint.port),
                timeout=DRAIN_TIMEOUT_SECONDS,
                what=f"gateway to drain pod {self.name}",
                interval=0.05,
            )
        self._thread.join()
        if self.process is not None:
            self.process.stop()
        self.prometheus.remove_target(self.target)
        if self.targets is not None:
            (self.targets / f"{self.target}.json").unlink(missing_ok=True)


class LabKubelet:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        prometheus: LocalPrometheus,
        artifact: Path,
        log_dir: Path,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace, self.prometheus = namespace, prometheus
        self.artifact, self.log_dir = artifact, log_dir
        self.drained: Callable[[int], bool] = lambda port: True
        self.discovered: Path | None = None  # LLM servers' targets, for Prometheus
        self.runners: dict[str, PodRunner] = {}
        self.finished: list[Endpoint] = []  # pods stopped, kept for the record
        self._lock = threading.Lock()
        self._stoppers: list[threading.Thread] = []
        self._loop = Loop("lab.kubelet", POLL_SECONDS, self._sync)

    def start(self) -> None:
        self._loop.start()

    def endpoints(self) -> list[Endpoint]:
        with self._lock:
            return [r.endpoint for r in self.runners.values()]

    def all_endpoints(self) -> list[Endpoint]:
        """Every pod this kubelet ran, running or stopped."""
        with self._lock:
            return self.finished + [r.endpoint for r in self.runners.values()]

    def _sync(self) -> None:
        pods: list[Any] = self.core.list_namespaced_pod(self.namespace, label_selector=LABEL).items
        live = {
            p.metadata.uid: p
            for p in pods
            if p.spec.node_name and p.metadata.deletion_timestamp is None
        }
        with self._lock:
            for uid, pod in live.items():
                if uid not in self.runners:
                    runner = PodRunner(
                        self.core,
                        pod,
                        self.artifact,
                        self.prometheus,
                        self.log_dir,
                        self.discovered,
                    )
                    self.runners[uid] = runner
                    runner.start()
            for uid, runner in self.runners.items():
                if uid not in live and not runner.terminating:
                    self._stop_async(runner)

    def _stop_async(self, runner: PodRunner) -> None:
        def stop() -> None:
            runner.stop(self.drained)
            with self._lock:
                self.runners.pop(runner.endpoint.uid, None)
                self.finished.append(runner.endpoint)

        runner.terminating = True
        runner.endpoint.ready = False
        thread = threading.Thread(target=stop, name=f"stop-{runner.name}", daemon=True)
        self._stoppers.append(thread)
        thread.start()

    def stop(self) -> None:
        self._loop.stop()
        for thread in self._stoppers:
            thread.join()
        for runner in list(self.runners.values()):
            runner.stop(lambda port: True)
