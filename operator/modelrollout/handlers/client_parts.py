"""The kubernetes client: its configuration, and its parts imported at startup, not on
first use.

The client imports each API class, and the hundreds of pydantic models its methods
name, the first time it is used; that import holds Python's import lock and half a
second of CPU. A standby that has never reconciled would pay it at the moment it takes
the Lease, with every loop waiting behind it (measured: the first decision after a
takeover 0.55 s late, at 30 ModelDeployments), so both replicas pay it at startup.
"""

from __future__ import annotations

from kubernetes import client, config

# The API classes the operator calls (workloads, Services, routes and custom objects,
# Events, the Lease); their modules import the models of their answers.
USED = ("AppsV1Api", "CoreV1Api", "CustomObjectsApi", "CoordinationV1Api", "CoreV1Event")


def import_now() -> None:
    for name in USED:
        getattr(client, name)


def api_configuration(connections: int) -> client.Configuration:
    """In-cluster or kubeconfig credentials, with a connection per worker thread (urllib3
    would otherwise open and drop a TLS connection per request beyond its default 10)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = connections
    return configuration
