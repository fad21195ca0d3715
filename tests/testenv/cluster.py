"""What an e2e test knows of the cluster it runs against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from kubernetes import client, config


def api_client_for(kubeconfig: Path) -> client.ApiClient:
    return cast(client.ApiClient, config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Cluster:
    mode: str  # local | existing | kind
    kubeconfig: Path
    audit_log: Path | None = None  # the local control plane's (testenv.audit)

    def api_client(self) -> client.ApiClient:
        return api_client_for(self.kubeconfig)
