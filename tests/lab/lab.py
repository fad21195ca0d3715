"""LAB-ONLY: the whole lab for one namespace (Envoy, stand-in gateway and kubelet, load)
and the ModelDeployments it can run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from kubernetes import client

from lab.artifact import ensure_model
from lab.envoy import Envoy
from lab.envoy_routes import NO_ENDPOINTS
from lab.gateway import LabGateway
from lab.kubelet import LABEL, LabKubelet
from lab.load import LoadGenerator
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import GW, http_route, model_deployment


class Lab:
    def __init__(
        self, api: client.ApiClient, namespace: str, prometheus: LocalPrometheus, workdir: Path
    ) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.envoy = Envoy(workdir / "envoy")
        self.kubelet = LabKubelet(api, namespace, prometheus, ensure_model(), workdir / "pods")
        self.gateway = LabGateway(api, namespace, self.envoy, self.kubelet.endpoints)
        self.kubelet.drained = self.gateway.drained
        self.loads: list[LoadGenerator] = []

    def start(self) -> None:
        self.envoy.start()
        self.gateway.start()
        self.kubelet.start()

    def deploy(
        self, body: dict[str, Any], timeout: float = 120, route: dict[str, Any] | None = None
    ) -> None:
        """Create the ModelDeployment `body` and its HTTPRoute (to its stable and canary
        Services unless `route` is another); return once it is Healthy."""
        name = body["metadata"]["name"]
        route = route or http_route(name, f"{name}-stable", f"{name}-canary")
        self.custom.create_namespaced_custom_object(*GW, self.namespace, "httproutes", route)
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

        wait_until(
            lambda: self.status(name).get("phase") == "Healthy",
            timeout=timeout,
            what=f"{name} Healthy",
        )
        wait_until(
            lambda: any(
                share == 1.0 and not cluster.endswith(NO_ENDPOINTS)
                for cluster, share in self.gateway.history[-1].shares.items()
            ),
            timeout=30,
            what=f"Envoy routing {name} to its pods",
        )

    def status(self, name: str) -> dict[str, Any]:
        md: Any = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return dict(md.get("status") or {})

    def load(
        self,
        rps: float,
        headers: dict[str, str] | None = None,
        share: float = 0.0,
        malformed: float = 0.0,
        feedback: float = 0.0,
    ) -> LoadGenerator:
        """Send `rps` requests a second through Envoy (`share` of them with `headers`,
        `malformed` of them malformed, `feedback` saying which answer they expected);
        returns once the first are answered."""
        load = LoadGenerator(self.envoy.url, rps, headers, share, malformed, feedback)
        self.loads.append(load)
        load.start()
        wait_until(lambda: len(load.between(0)) >= rps, timeout=30, what="load flowing")
        return load

    def stop(self) -> None:
        for load in self.loads:
            load.stop()
        self.kubelet.stop()
        self.gateway.stop()
        self.envoy.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def service_route(name: str, service: str) -> dict[str, Any]:
    """An HTTPRoute to one Service, as an ingress to a plain Service is: Envoy balances
    over the Service's ready endpoints, as kube-proxy would (replica ratio)."""
    route = http_route(name, service, service)
    route["spec"]["rules"][0]["backendRefs"] = [{"name": service, "port": 80}]
    return route


def server_template(version: str, faults: dict[str, str] | None = None) -> dict[str, Any]:
    """The pod template of the example model server, run by the lab's kubelet."""
    env: list[dict[str, Any]] = [
        {"name": "MODEL_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    ]
    env += [{"name": k, "value": v} for k, v in sorted((faults or {}).items())]
    return {
        "metadata": {"labels": {LABEL: "process"}},
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": f"example.test/model-server:{version}",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "env": env,
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                }
            ]
        },
    }


def lab_model_deployment(
    name: str,
    version: str,
    prometheus_url: str,
    faults: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return model_deployment(
        name, version, prometheus_url, template=server_template(version, faults), **spec
    )


def version_patch(version: str, faults: dict[str, str] | None = None) -> dict[str, Any]:
    """A merge patch that starts a rollout of `version` (with its fault switches)."""
    return {"spec": {"model": {"version": version}, "template": server_template(version, faults)}}
