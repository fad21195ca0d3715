"""`kubectl modelrollout undo`: the previous stable revision's spec, verified, written
back exactly.

The spec of a revision is recorded on its Deployment (an annotation), which anyone who
may edit Deployments can rewrite. So the record is used only if the Deployment is this
ModelDeployment's (its controller's UID) and the record hashes to the digest the
operator kept in status when that revision served (status is the operator's to write).
It is written back with a JSON patch that replaces the fields outright (a merge patch
would keep fields added since, making a new revision) and tests the resourceVersion
read, so an edit in between is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelrollout.api.spec import shaping_digest
from modelrollout.api.status import HistoryEntry
from modelrollout.workloads.observed import controller_uid
from modelrollout.workloads.render import ANNOTATION_SOURCE

SHAPING_KEYS = {"model", "template", "targetPort"}


class UndoRefused(Exception):
    pass


def verified_source(entry: HistoryEntry, uid: str, deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded spec of `entry.from_revision` from its Deployment, once verified."""
    revision = entry.from_revision
    meta = deployment.get("metadata") or {}
    if controller_uid(meta) != uid:
        raise UndoRefused(f"revision {revision}'s Deployment is not this ModelDeployment's")
    text = (meta.get("annotations") or {}).get(ANNOTATION_SOURCE)
    if text is None:
        raise UndoRefused(f"revision {revision} does not record its spec")
    try:
        source = json.loads(text)
    except ValueError:
        source = None
    if not isinstance(source, dict) or set(source) != SHAPING_KEYS:
        raise UndoRefused(f"revision {revision}'s record is not a spec")
    digest = shaping_digest(source)
    # Histories from before digests were kept: the revision (a shorter hash) instead.
    matches = digest == entry.from_digest if entry.from_digest else digest[:10] == revision
    if not matches:
        raise UndoRefused(
            f"revision {revision}'s record does not match its hash: it was changed after "
            "the operator wrote it, so it is not used"
        )
    return source


def undo_patch(body: Mapping[str, Any], source: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch putting `source` back exactly, on the version of `body` only."""
    service = {**(body.get("spec", {}).get("service") or {}), "targetPort": source["targetPort"]}
    return [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": body["metadata"]["resourceVersion"],
        },
        {"op": "replace", "path": "/spec/model", "value": source["model"]},
        {"op": "replace", "path": "/spec/template", "value": source["template"]},
        {"op": "add", "path": "/spec/service", "value": service},
    ]
