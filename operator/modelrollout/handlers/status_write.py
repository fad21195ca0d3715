"""Writing a decision's status: only the fields that changed, only onto the object decided on."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import Enum
from typing import Any, cast

from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.api.vocabulary import FIELD_MANAGER


class Written(Enum):
    UNCHANGED = "unchanged"  # nothing to write
    CONFLICT = "conflict"  # the object changed since it was read: decide again


logger = logging.getLogger("modelrollout")


class StatusWriteError(Exception):
    """The API server refused the write for another reason than a conflict."""


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) from `old` to `new`: changed keys only, and null
    for every key gone, at any depth. A merge patch merges nested objects, so a field
    dropped inside one (a reset analysis's judge, say) would otherwise stay."""
    patch: dict[str, Any] = {key: None for key in old.keys() - new.keys()}
    for key, value in new.items():
        before = old.get(key)
        if key in old and before == value:
            continue
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            patch[key] = merge_patch(before, value)
        else:
            patch[key] = value
    return patch


def write_status(
    api: client.ApiClient, body: Mapping[str, Any], new: dict[str, Any]
) -> dict[str, Any] | Written:
    """Merge-patch the changed fields, guarded by the resourceVersion read.

    If anything changed the object since (a spec edit, or this decision was made on a
    stale copy) the API server answers 409 and nothing is written, so no step,
    promotion or history entry is ever recorded twice. Returns the object as written
    (the newest status, for the next decision), or why nothing was written.
    """
    changed = merge_patch(dict(body.get("status") or {}), new)
    if not changed:
        return Written.UNCHANGED
    meta = body["metadata"]
    patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": changed}
    try:
        written = client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            meta["namespace"],
            PLURAL,
            meta["name"],
            patch,
            field_manager=FIELD_MANAGER,
        )
    except client.ApiException as exc:
        if exc.status == 409:
            logger.debug("%s/%s changed since it was read", meta["namespace"], meta["name"])
            return Written.CONFLICT
        raise StatusWriteError(f"{exc.status} {exc.reason}: {str(exc.body)[:300]}") from exc
    return cast(dict[str, Any], written)
