"""A kubeconfig that authenticates as a ServiceAccount (a TokenRequest), not as admin."""

from __future__ import annotations

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
