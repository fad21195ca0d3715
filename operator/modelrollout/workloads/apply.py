"""Server-side apply with the body sent as UTF-8 JSON.

The generated client writes a body with json.dumps' ASCII escapes, and the API server
reads an apply patch as YAML, which refuses the surrogate-pair escapes of characters
beyond the BMP (an emoji in an env value): every apply of such a spec answered 400. The
client's typed methods accept only objects as a body, so the request is put together
here with its public ApiClient calls, sending bytes as they are.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from modelrollout.api.vocabulary import FIELD_MANAGER


def server_side_apply(api: client.ApiClient, path: str, body: dict[str, Any]) -> None:
    """Apply `body` at `path` (forcing our field manager); ApiException when refused."""
    method, url, headers, payload, post = api.param_serialize(
        method="PATCH",
        resource_path=path,
        query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        body=json.dumps(body, ensure_ascii=False).encode(),
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, headers, payload, post)
    response.read()  # type: ignore[no-untyped-call]
    api.response_deserialize(response, {"2XX": "object"})
