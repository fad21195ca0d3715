"""The real metrics chain an HPA reads: sigs.k8s.io/prometheus-adapter (built from its
Go module, testenv.binaries) serves `external.metrics.k8s.io` from the test Prometheus,
registered with kube-apiserver's aggregation layer.

The APIService points at an ExternalName Service (`localhost`): kube-apiserver resolves
one to its name, and nothing else here can reach a process on 127.0.0.1 (the Endpoints
API refuses loopback addresses, and there is no kube-proxy). TLS to the adapter is not
verified (`insecureSkipTLSVerify`): the adapter serves a self-signed certificate, and
this is a test on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from testenv.binaries import prometheus_adapter
from testenv.ports import free_port
from testenv.procs import Process, wait_until

NAMESPACE = "kube-system"
SERVICE = "prometheus-adapter"
API_SERVICE = "v1beta1.external.metrics.k8s.io"
# What the model's whole load is: requests per second of every version, by model.
REQUESTS_PER_SECOND = "model_requests_per_second"
RULES = {
    "externalRules": [
        {
            "seriesQuery": 'model_requests_total{namespace!="",model!=""}',
            "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
            "name": {"matches": "^model_requests_total$", "as": REQUESTS_PER_SECOND},
            "metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[5s])) by (<<.GroupBy>>)",
        }
    ]
}


class MetricsAdapter:
    def __init__(self, workdir: Path, kubeconfig: Path, prometheus_url: str) -> None:
        self.workdir, self.kubeconfig, self.prometheus_url = workdir, kubeconfig, prometheus_url
        self.port = free_port()
        self.process: Process | None = None

    def start(self, api: client.ApiClient) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "rules.yaml"
        config.write_text(yaml.safe_dump(RULES))
        kubeconfig = f"{self.kubeconfig}"
        self.process = Process(
            "prometheus-adapter",
            [
                str(prometheus_adapter()),
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--prometheus-url={self.prometheus_url}",
                f"--config={config}",
                "--metrics-relist-interval=2s",
                "--v=1",
            ],
            self.workdir / "adapter.log",
        )
        self.process.start(detach=False)
        self._register(api)

    def _register(self, api: client.ApiClient) -> None:
        client.CoreV1Api(api).create_namespaced_service(
            NAMESPACE,
            client.V1Service(
                metadata=client.V1ObjectMeta(name=SERVICE),
                spec=client.V1ServiceSpec(type="ExternalName", external_name="localhost"),
            ),
        )
        registration = client.ApiregistrationV1Api(api)
        registration.create_api_service(
            client.V1APIService(
                metadata=client.V1ObjectMeta(name=API_SERVICE),
                spec=client.V1APIServiceSpec(
                    group="external.metrics.k8s.io",
                    version="v1beta1",
                    service=client.ApiregistrationV1ServiceReference(
                        namespace=NAMESPACE, name=SERVICE, port=self.port
                    ),
                    insecure_skip_tls_verify=True,
                    group_priority_minimum=100,
                    version_priority=100,
                ),
            )
        )

        def available() -> bool:
            found: Any = registration.read_api_service(API_SERVICE)
            conditions = (found.status.conditions if found.status else None) or []
            return any(c.type == "Available" and c.status == "True" for c in conditions)

        assert self.process is not None
        wait_until(available, timeout=60, what=f"{API_SERVICE} Available", watch=[self.process])

    def stop(self, api: client.ApiClient) -> None:
        try:
            client.ApiregistrationV1Api(api).delete_api_service(API_SERVICE)
            client.CoreV1Api(api).delete_namespaced_service(SERVICE, NAMESPACE)
        finally:
            if self.process is not None:
                self.process.stop()
