"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (TLS, RBAC,
ServiceAccount tokens), kube-controller-manager, kube-scheduler, and kwok-simulated nodes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import requests
from kubernetes import client

from testenv import settings
from testenv.audit import write_audit_policy
from testenv.binaries import Binaries
from testenv.cluster import api_client_for
from testenv.kubeconfig import write_kubeconfig
from testenv.pki import CertificateAuthority, service_account_keys
from testenv.ports import free_port
from testenv.procs import Process, wait_until

NODE_COUNT = 3
# What each simulated node offers; GPUs so GPU-aware canary sizing has something to size.
NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "4"}
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
FRONT_PROXY_CLIENT = "front-proxy-client"
_STAGES = settings.REPO_ROOT / "hack" / "kwok" / "stages.yaml"


@dataclass(frozen=True)
class Endpoints:
    server: str
    etcd: str
    kubeconfig: Path  # admin (system:masters)
    ca: Path
    audit_log: Path  # writes by ServiceAccounts outside kube-system (testenv.audit)


class LocalControlPlane:
    def __init__(self, workdir: Path, binaries: Binaries, *, detach: bool = False) -> None:
        self.workdir = workdir
        self.binaries = binaries
        self.detach = detach
        self.processes: list[Process] = []
        self.endpoints: Endpoints | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Endpoints:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        pki_dir = self.workdir / "pki"
        ca = CertificateAuthority(pki_dir)
        sa = service_account_keys(pki_dir)
        serving = ca.issue("apiserver", "kube-apiserver", server=True)
        # The aggregation layer's client (an aggregated API such as a metrics adapter
        # trusts the user it names in request headers only from this certificate).
        front_proxy = ca.issue("front-proxy-client", FRONT_PROXY_CLIENT)
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        server = f"https://127.0.0.1:{api_port}"
        etcd_url = f"http://127.0.0.1:{etcd_port}"

        def kubeconfig(user: str, common_name: str, org: str | None = None) -> Path:
            pair = ca.issue(user, common_name, org)
            return write_kubeconfig(
                self.workdir / f"{user}.kubeconfig",
                server=server,
                ca=ca.cert_path,
                user=user,
                cert=pair.cert,
                key=pair.key,
            )

        admin = kubeconfig("admin", "kubernetes-admin", "system:masters")
        audit_log = self.workdir / "audit.log"
        self.endpoints = Endpoints(server, etcd_url, admin, ca.cert_path, audit_log)

        etcd = self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",  # test data: speed over durability
                "--log-level=warn",
            ],
        )
        wait_until(
            lambda: requests.get(f"{etcd_url}/health", timeout=1).json()["health"] == "true",
            timeout=30,
            what="etcd health",
            watch=[etcd],
        )

        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.cert_path}",
                f"--requestheader-client-ca-file={ca.cert_path}",
                f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={front_proxy.cert}",
                f"--proxy-client-key-file={front_proxy.key}",
                "--authorization-mode=RBAC",
                # As strict clusters (OpenShift) run: setting blockOwnerDeletion needs
                # `update` on the owner's finalizers, so the chart's RBAC is tested for it.
                "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                # The Endpoints API refuses loopback addresses; nothing here needs them.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
                f"--audit-policy-file={write_audit_policy(self.workdir)}",
                f"--audit-log-path={audit_log}",
                "--audit-log-format=json",
                "--v=1",
            ],
        )
        admin_pair = (str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
        wait_until(
            lambda: (
                requests.get(
                    f"{server}/readyz", cert=admin_pair, verify=str(ca.cert_path), timeout=2
                ).status_code
                == 200
            ),
            timeout=90,
            what="kube-apiserver /readyz",
            watch=[etcd, apiserver],
        )

        cm_kubeconfig = kubeconfig("controller-manager", "system:kube-controller-manager")
        controller_manager = self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={cm_kubeconfig}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={ca.cert_path}",
                "--leader-elect=false",
                "--secure-port=0",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
                "--horizontal-pod-autoscaler-sync-period=2s",  # the autoscaling e2e test
                "--v=1",
            ],
        )
        scheduler = self._spawn(
            "kube-scheduler",
            [
                str(self.binaries.kube_scheduler),
                f"--kubeconfig={kubeconfig('scheduler', 'system:kube-scheduler')}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
        )
        kwok = self._spawn(
            "kwok",
            [
                str(self.binaries.kwok),
                f"--kubeconfig={kubeconfig('kwok', 'kwok', 'system:masters')}",
                f"--config={_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.1/16",
                "--node-ip=127.0.0.1",
                "--server-address=",
            ],
        )

        api = self.api_client()
        try:
            self._create_nodes(client.CoreV1Api(api))
            everything = [etcd, apiserver, controller_manager, scheduler, kwok]
            core = client.CoreV1Api(api)
            wait_until(
                lambda: sum(_node_ready(n) for n in core.list_node().items) == NODE_COUNT,
                timeout=60,
                what=f"{NODE_COUNT} simulated nodes Ready",
                watch=everything,
            )
            # The ServiceAccount controller creating `default` proves the controller-manager works.
            wait_until(
                lambda: bool(
                    core.list_namespaced_service_account(
                        "default", field_selector="metadata.name=default"
                    ).items
                ),
                timeout=60,
                what="the default ServiceAccount (controller-manager)",
                watch=everything,
            )
        finally:
            api.close()  # type: ignore[no-untyped-call]
        return self.endpoints

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()

    # -- helpers ----------------------------------------------------------------

    def api_client(self) -> client.ApiClient:
        assert self.endpoints is not None, "control plane not started"
        return api_client_for(self.endpoints.kubeconfig)

    def _spawn(self, name: str, argv: list[str]) -> Process:
        proc = Process(name, argv, self.workdir / "logs" / f"{name}.log")
        proc.start(detach=self.detach)
        self.processes.append(proc)
        return proc

    @staticmethod
    def _create_nodes(core: client.CoreV1Api) -> None:
        add_nodes(core, range(NODE_COUNT))


def add_nodes(core: client.CoreV1Api, indices: range) -> None:
    """Simulated nodes `kwok-node-<index>` (kwok makes them Ready and runs their pods)."""
    for index in indices:
        name = f"kwok-node-{index}"
        core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=name,
                    annotations={KWOK_NODE_ANNOTATION: "fake"},
                    labels={
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                ),
                status=client.V1NodeStatus(capacity=NODE_CAPACITY, allocatable=NODE_CAPACITY),
            )
        )


def _node_ready(node: client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)
