"""The Helm chart on the real control plane: `helm install`, then the operator runs as the
chart's ServiceAccount (a token for it, not admin credentials) and completes a canary
rollout, which proves the RBAC is enough; SubjectAccessReviews show what it is refused.

The operator Deployment's pod is simulated by kwok (no container runtime here), so the
operator itself runs as a local process with the Deployment's arguments and environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from kubernetes import client

from modelrollout.api.crd import GROUP
from testenv import settings
from testenv.cluster import Cluster
from testenv.exporter import Traffic
from testenv.helm import helm
from testenv.namespaces import temporary_namespace
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import Scenario
from testenv.serviceaccounts import service_account_kubeconfig

CHART = settings.REPO_ROOT / "charts" / "modelrollout"


def can(
    api: client.ApiClient, user: str, verb: str, resource: str, namespace: str, **kw: str
) -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=["system:serviceaccounts", "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=resource, namespace=namespace, **kw
            ),
        )
    )
    result = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(result.status.allowed)


@pytest.mark.parametrize("scope", ["cluster-wide", "namespaced"])
def test_chart_installs_and_its_service_account_completes_a_canary(
    scope: str,
    cluster: Cluster,
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    modelrollout_crd: list[str],
    session_operator_stopped: None,
    tmp_path: Path,
) -> None:
    values: list[str] = []
    if scope == "namespaced":
        values.append(f"--set=watchNamespaces={{{namespace}}}")
    with temporary_namespace(api, "mr-system") as release_ns:
        release = "mr"
        helm(
            "install",
            release,
            str(CHART),
            f"--namespace={release_ns}",
            "--wait",
            "--timeout=90s",
            *values,
            kubeconfig=cluster.kubeconfig,
        )
        try:
            apps = client.AppsV1Api(api)
            # A leader and a standby. Helm's --wait reads the ReplicaSet; the Deployment's
            # own status follows it a moment later (seen under load).
            wait_until(
                lambda: (
                    apps.read_namespaced_deployment_status(
                        "mr-modelrollout", release_ns
                    ).status.ready_replicas
                    == 2
                ),
                timeout=60,
                what="both operator replicas ready in the Deployment's status",
            )
            deployment = apps.read_namespaced_deployment("mr-modelrollout", release_ns)
            pod = deployment.spec.template.spec
            container = pod.containers[0]
            args = [a for a in container.args if not a.startswith(("--liveness", "--metrics-port"))]
            user = f"system:serviceaccount:{release_ns}:{pod.service_account_name}"

            # Least privilege, asked of the API server's own authorizer.
            assert can(api, user, "patch", "deployments", namespace, group="apps")
            assert not can(api, user, "get", "secrets", namespace)
            assert not can(api, user, "list", "pods", namespace)
            # The Lease in its own namespace, and no other.
            lease = {"group": "coordination.k8s.io", "name": "mr-modelrollout"}
            for verb in ("get", "update", "watch"):
                assert can(api, user, verb, "leases", release_ns, **lease)
            assert not can(api, user, "update", "leases", namespace, **lease)
            other_lease = {"group": "coordination.k8s.io", "name": "kube-scheduler"}
            assert not can(api, user, "update", "leases", release_ns, **other_lease)
            for verb in ("create", "update", "delete"):  # the spec belongs to people and Git
                assert not can(api, user, verb, "modeldeployments", namespace, group=GROUP)
            assert not can(
                api, user, "create", "clusterroles", "", group="rbac.authorization.k8s.io"
            )
            other = "default"
            assert can(api, user, "list", "modeldeployments", other, group=GROUP) == (
                scope == "cluster-wide"
            )

            kubeconfig = service_account_kubeconfig(
                api,
                cluster.kubeconfig,
                release_ns,
                pod.service_account_name,
                tmp_path / "sa.kubeconfig",
            )
            operator = OperatorProcess(kubeconfig, tmp_path / "logs", args)
            (tmp_path / "logs").mkdir()
            operator.start()
            scenario = Scenario(api, namespace, prometheus, "fraud")
            try:
                scenario.create_route()
                scenario.traffic("1.0.0", Traffic())
                scenario.traffic("2.0.0", Traffic())
                scenario.create("1.0.0")
                scenario.wait_healthy("1.0.0")
                scenario.set_version("2.0.0")
                status = scenario.wait_healthy("2.0.0")
                assert status["history"][0]["outcome"] == "Promoted"
                assert scenario.recorder is not None
                assert scenario.recorder.weights == [0, 20, 50, 100, 0]
                scenario.wait_events(lambda _t, r, _m: r == "Promoted", "a Promoted event")
                # What `patch` on the resource is for: kopf's finalizer, and nothing else.
                metadata = scenario.get()["metadata"]
                assert metadata["finalizers"] == [f"{GROUP}/finalizer"]
                assert not [a for a in metadata.get("annotations", {}) if "kopf" in a]
                health = requests.get(f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5)
                assert health.status_code == 200
            finally:
                scenario.close()
                operator.stop()
            logs = operator.logs()
            # RBAC refusals only: a cluster-wide operator may also meet objects of earlier
            # tests in namespaces being deleted (403 NamespaceTerminating), which is no RBAC gap.
            for refused in (
                f'User \\"{user}\\" cannot',
                f'User "{user}" cannot',
                "Not enough permissions",
            ):
                assert refused not in logs, f"the operator was refused something:\n{logs[-3000:]}"

            # The chart's test hook: a Job, completed by the simulated kubelet.
            out = helm(
                "test",
                release,
                f"--namespace={release_ns}",
                "--timeout=60s",
                kubeconfig=cluster.kubeconfig,
            )
            assert "Phase:          Succeeded" in out, out
        finally:
            helm(
                "uninstall",
                release,
                f"--namespace={release_ns}",
                "--wait",
                kubeconfig=cluster.kubeconfig,
            )
