"""What the Kubernetes API server said when it refused a request, in its own words and
bounded: shared by every adapter and by the reconciler's error text, so no router or
workload module owns it."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

MAX_MESSAGE = 500


def api_message(exc: ApiException) -> str | None:
    """The API server's `message` (at most 500 characters), if it said one."""
    try:
        return str(json.loads(exc.body or "")["message"])[:MAX_MESSAGE]
    except (TypeError, ValueError, KeyError):
        return None
