"""A kubeconfig that authenticates as a ServiceAccount (a TokenRequest), not as admin."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import yaml
from kubernetes import client


def service_account_kubeconfig(
    api: client.ApiClient, admin_kubeconfig: Path, namespace: str, name: str, out: Path
) -> Path:
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    status = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(name, namespace, request)
        .status
    )
    assert status is not None, f"no token issued for {namespace}/{name}"
    token = status.token
    config = yaml.safe_load(admin_kubeconfig.read_text())
    user = f"system:serviceaccount:{namespace}:{name}"
    config["users"] = [{"name": user, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = user
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


@contextlib.contextmanager
def cluster_admin_service_account(
    api: client.ApiClient, admin_kubeconfig: Path, namespace: str, name: str, out: Path
) -> Iterator[Path]:
    """A ServiceAccount bound to cluster-admin and a kubeconfig for it; the binding goes
    afterwards. For a process whose requests the API server must tell apart (its
    flow-control metrics and its audit log name the ServiceAccount)."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    binding = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=f"{namespace}-{name}"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
        ),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
    )
    rbac.create_cluster_role_binding(binding)
    try:
        yield service_account_kubeconfig(api, admin_kubeconfig, namespace, name, out)
    finally:
        rbac.delete_cluster_role_binding(f"{namespace}-{name}")
