"""Writing a ModelDeployment creates pods, so it takes the rights to create them: the
chart's roles fold ModelDeployments into the built-in admin, edit and view roles, and
its admission policy (on the real API server's authorizer) refuses a ModelDeployment
from anyone who may not create Deployments in its namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv import settings
from testenv.cluster import Cluster
from testenv.helm import helm
from testenv.namespaces import temporary_namespace
from testenv.procs import wait_until
from testenv.rollouts import model_deployment
from testenv.serviceaccounts import service_account_kubeconfig

CHART = settings.REPO_ROOT / "charts" / "modelrollout"


@pytest.fixture
def chart_with_policy(
    cluster: Cluster, api: client.ApiClient, modelrollout_crd: list[str]
) -> Iterator[str]:
    """The chart installed with its admission policy (no operator replicas: not needed);
    uninstalled after, since the policy and the roles are cluster-wide."""
    with temporary_namespace(api, "mr-policy") as release_ns:
        helm(
            "install",
            "mrp",
            str(CHART),
            f"--namespace={release_ns}",
            "--set=replicas=0",
            "--set=admissionPolicy.enabled=true",
            kubeconfig=cluster.kubeconfig,
        )
        try:
            yield "mrp-modelrollout"
        finally:
            helm(
                "uninstall",
                "mrp",
                f"--namespace={release_ns}",
                "--wait",
                kubeconfig=cluster.kubeconfig,
            )


def person(
    api: client.ApiClient, cluster: Cluster, namespace: str, name: str, role: str, tmp: Path
) -> client.CustomObjectsApi:
    """A ServiceAccount bound in `namespace` to the ClusterRole `role`, as an API client."""
    client.CoreV1Api(api).create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
        ),
    )
    kubeconfig = service_account_kubeconfig(api, cluster.kubeconfig, namespace, name, tmp / name)
    return client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig)))


def create(who: client.CustomObjectsApi, namespace: str, name: str, dry_run: bool = False) -> None:
    body = model_deployment(name, "1.0.0", "http://prometheus.test:9090")
    who.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, dry_run="All" if dry_run else None
    )


def refusal(who: client.CustomObjectsApi, namespace: str) -> str | None:
    """Why a (dry-run) create by `who` is refused, or None when it is admitted."""
    try:
        create(who, namespace, "probe", dry_run=True)
    except ApiException as exc:
        return str(exc.body)
    return None


def test_only_whoever_may_create_deployments_may_write_a_modeldeployment(
    chart_with_policy: str,
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    # Our own role alone: ModelDeployments, but not Deployments.
    narrow = person(api, cluster, namespace, "md-only", f"{chart_with_policy}-edit", tmp_path)
    # The built-in edit role, which our role is aggregated into: both.
    editor = person(api, cluster, namespace, "editor", "edit", tmp_path)
    viewer = person(api, cluster, namespace, "viewer", "view", tmp_path)

    # The aggregation controller and the policy's informer take a moment.
    wait_until(lambda: refusal(editor, namespace) is None, timeout=60, what="edit aggregated")
    wait_until(
        lambda: "may not create Deployments" in (refusal(narrow, namespace) or ""),
        timeout=60,
        what="the admission policy in force",
    )
    said = refusal(narrow, namespace) or ""
    assert f"system:serviceaccount:{namespace}:md-only may not create Deployments" in said

    create(editor, namespace, "admitted")
    # A manual request (annotations only) needs no more than the ModelDeployment.
    request = {"metadata": {"annotations": {"modelrollout.io/request": "pause:20261205T000000Z"}}}
    narrow.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "admitted", request)
    # A change of its spec does.
    with pytest.raises(ApiException) as refused:
        narrow.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "admitted", {"spec": {"replicas": 3}}
        )
    assert refused.value.status in (403, 422)

    wait_until(
        lambda: bool(
            viewer.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        ),
        timeout=60,
        what="view aggregated",
    )
    with pytest.raises(ApiException) as not_allowed:
        create(viewer, namespace, "nope", dry_run=True)
    assert not_allowed.value.status == 403
