"""LAB-ONLY: the lab's LLM data plane: stand-in vLLM servers (lab.llm_server) behind
InferencePools the operator keeps, a real endpoint picker per pool (lab.pickers) called
by the real Envoy through ext_proc (lab.pools), Prometheus relabeling the servers'
pods' labels onto their series (the README's PodMonitor rules), and a load of streamed
completions (lab.llm_load).

Debian's Prometheus is built without Kubernetes service discovery, so the lab's kubelet
stands in for it: it writes each server's target with the `__meta_kubernetes_*` labels
Kubernetes discovery would give (lab.kubelet.discovered), and Prometheus's own
relabeling does the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from lab import pools
from lab.envoy import Envoy
from lab.gateway import LabGateway
from lab.kubelet import LABEL, LLM
from lab.lab import Lab
from lab.llm_load import StreamingLoad
from lab.pickers import Pickers
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GW, model_deployment

PORT = 8000  # the servers' port, the pools' target port


def scrape_job(namespace: str, targets: Path) -> dict[str, Any]:
    """The README's PodMonitor rules as a plain Prometheus job: `namespace`, `model` and
    `version` from the pod (`targets`: the discovered pods, written by the kubelet)."""
    pod = "__meta_kubernetes_pod"
    return {
        "job_name": f"lab-llm-{namespace}",
        "file_sd_configs": [{"files": [str(targets / "*.json")], "refresh_interval": "1s"}],
        "relabel_configs": [
            {
                "source_labels": [f"{pod}_label_modelrollout_io_name"],
                "regex": ".+",
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": [f"{pod}_label_modelrollout_io_name"], "target_label": "model"},
            {
                "source_labels": [f"{pod}_annotation_modelrollout_io_version"],
                "target_label": "version",
            },
        ],
    }


def llm_template(version: str, faults: dict[str, str] | None = None) -> dict[str, Any]:
    env = [{"name": k, "value": v} for k, v in sorted((faults or {}).items())]
    return {
        "metadata": {"labels": {LABEL: LLM}},
        "spec": {
            "containers": [
                {
                    "name": "vllm",
                    "image": f"example.test/llm-server:{version}",
                    "ports": [{"name": "http", "containerPort": PORT}],
                    "env": env,
                    "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
                }
            ]
        },
    }


def pickers_of(name: str) -> dict[str, str]:
    """Each picker's Service -> its pool."""
    return {f"{name}-{role}-epp": f"{name}-{role}" for role in ("stable", "canary")}


def llm_model_deployment(
    name: str, version: str, prometheus_url: str, faults: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    pickers = {role: {"name": f"{name}-{role}-epp"} for role in ("stable", "canary")}
    traffic = {
        "gatewayAPI": {
            "httpRoute": name,
            "inferencePool": {"targetPorts": [PORT], "endpointPickers": pickers},
        }
    }
    body = model_deployment(
        name,
        version,
        prometheus_url,
        template=llm_template(version, faults),
        service={"port": PORT, "targetPort": "http"},
        traffic=traffic,
        **spec,
    )
    body["spec"]["analysis"]["prometheus"]["conventions"] = {"server": "vllm"}
    return body


def llm_patch(version: str, faults: dict[str, str] | None = None) -> dict[str, Any]:
    return {"spec": {"model": {"version": version}, "template": llm_template(version, faults)}}


def pool_route(name: str) -> dict[str, Any]:
    refs = [
        {"group": pools.GROUP, "kind": pools.KIND, "name": f"{name}-{role}", "weight": weight}
        for role, weight in (("stable", 100), ("canary", 0))
    ]
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}], "backendRefs": refs}
    return {
        "apiVersion": f"{GW[0]}/{GW[1]}",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [rule]},
    }


class LlmLab(Lab):
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        prometheus: LocalPrometheus,
        workdir: Path,
        kubeconfig: Path,
        name: str,
    ) -> None:
        super().__init__(api, namespace, prometheus, workdir)
        self.prometheus, self.kubeconfig = prometheus, kubeconfig
        self.pickers = Pickers(kubeconfig, namespace, workdir / "pickers", pickers_of(name))
        self.envoy = Envoy(workdir / "envoy", pools.http_filters(), self.pickers.grpc_services())
        self.gateway = LabGateway(
            api, namespace, self.envoy, self.kubelet.endpoints, self.pickers.ports
        )
        self.kubelet.drained = self.gateway.drained
        self.kubelet.discovered = workdir / "discovered"
        self.streams: list[StreamingLoad] = []

    def start(self) -> None:
        assert self.kubelet.discovered is not None
        self.kubelet.discovered.mkdir(parents=True, exist_ok=True)
        self.prometheus.add_job(scrape_job(self.namespace, self.kubelet.discovered))
        self.pickers.start()
        super().start()

    def stop(self) -> None:
        for load in self.streams:
            load.stop()
        super().stop()
        self.pickers.stop()
        self.prometheus.remove_job(f"lab-llm-{self.namespace}")

    def deploy(
        self, body: dict[str, Any], timeout: float = 120, route: dict[str, Any] | None = None
    ) -> None:
        """Create the ModelDeployment and the route to its pools (or `route`); return once
        it is Healthy and a completion is answered through Envoy and the stable pool's
        picker."""
        name = body["metadata"]["name"]
        self.custom.create_namespaced_custom_object(
            *GW, self.namespace, "httproutes", route or pool_route(name)
        )
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
        wait_until(
            lambda: self.status(name).get("phase") == "Healthy",
            timeout=timeout,
            what=f"{name} Healthy",
        )
        probe = StreamingLoad(self.envoy.url, 1.0)
        wait_until(lambda: probe.once().ok, timeout=60, what="a completion through the picker")

    def load_streams(self, rps: float, max_tokens: int = 16) -> StreamingLoad:
        load = StreamingLoad(self.envoy.url, rps, max_tokens)
        self.streams.append(load)
        load.start()
        wait_until(lambda: len(load.between(0)) >= rps, timeout=60, what="streams flowing")
        return load
