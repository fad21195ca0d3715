"""Throwaway namespaces that are ready for pods."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes import client

from testenv.procs import wait_until


@contextmanager
def temporary_namespace(api: client.ApiClient, prefix: str = "t") -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    labels = {"modelrollout.io/test": "e2e"}
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    try:
        # Pods are refused until the ServiceAccount controller made `default`, and the
        # ReplicaSet controller backs off after a refusal: wait for it, as kubectl users do.
        wait_until(
            lambda: bool(
                core.list_namespaced_service_account(
                    name, field_selector="metadata.name=default"
                ).items
            ),
            timeout=30,
            what=f"the default ServiceAccount in {name}",
        )
        yield name
    finally:
        core.delete_namespace(name)
