"""Events about a ModelDeployment, posted through the operator's own (fenced) client.

kopf's poster sends Events later, from its own client, where the Lease fence cannot
see them; an Event is a write like any other, so it is sent from the worker thread
that made the decision, and only while the Lease is held (handlers.fencing).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from modelrollout.api.crd import GROUP, KIND, VERSION

COMPONENT = "modelrollout"
MAX_MESSAGE = 1024  # what the API server keeps of an Event's message


def post(
    api: client.ApiClient, body: Mapping[str, Any], type_: str, reason: str, message: str
) -> None:
    """One core/v1 Event on the ModelDeployment `body` (raises ApiException, NotLeading)."""
    meta = body["metadata"]
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    now = datetime.now(UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
        involved_object=client.V1ObjectReference(
            api_version=f"{GROUP}/{VERSION}",
            kind=KIND,
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta.get("uid"),
        ),
        type=type_,
        reason=reason,
        message=message,
        source=client.V1EventSource(component=COMPONENT),
        reporting_component=COMPONENT,
        reporting_instance=COMPONENT,
        first_timestamp=now,
        last_timestamp=now,
        count=1,
    )
    client.CoreV1Api(api).create_namespaced_event(meta["namespace"], event)
