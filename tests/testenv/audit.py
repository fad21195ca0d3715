"""kube-apiserver's audit log: every write and every list by a ServiceAccount outside
kube-system (the operator's replicas run as ServiceAccounts where a test counts their
requests), with the Leases' bodies, so a test can tell who held the Lease when each
write arrived, and when a replica listed what it watches; and each look at a Lease."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # The control plane's own controllers write all the time: not ours to count.
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {
            "level": "RequestResponse",
            "userGroups": ["system:serviceaccounts"],
            "verbs": ["create", "update", "patch"],
            "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
        },
        {
            "level": "Metadata",
            "userGroups": ["system:serviceaccounts"],
            "verbs": ["create", "update", "patch", "delete", "deletecollection", "list"],
        },
        {
            "level": "Metadata",
            "userGroups": ["system:serviceaccounts"],
            "verbs": ["get"],
            "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
        },
        {"level": "None"},
    ],
}


def write_audit_policy(workdir: Path) -> Path:
    path = workdir / "audit-policy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_POLICY))
    return path


@dataclass(frozen=True)
class Write:
    user: str  # system:serviceaccount:<namespace>:<name>
    verb: str
    resource: str  # e.g. httproutes, deployments/scale
    namespace: str
    name: str
    code: int
    received: datetime
    holder: str | None = None  # a Lease write: the holder identity it left


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def writes(log: Path, since: datetime | None = None) -> list[Write]:
    """The audit log's writes (received at or after `since`), in the order received."""
    return [w for w in requests(log, since) if w.verb not in ("list", "get")]


def lists(log: Path, since: datetime | None = None) -> list[Write]:
    """The audit log's lists (received at or after `since`), in the order received."""
    return [w for w in requests(log, since) if w.verb == "list"]


def requests(log: Path, since: datetime | None = None) -> list[Write]:
    found = []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        spec = (event.get("responseObject") or {}).get("spec") or {}
        write = Write(
            user=event["user"]["username"],
            verb=event["verb"],
            resource=resource,
            namespace=ref.get("namespace", ""),
            name=ref.get("name", ""),
            code=int((event.get("responseStatus") or {}).get("code", 0)),
            received=_time(event["requestReceivedTimestamp"]),
            holder=spec.get("holderIdentity") if resource == "leases" else None,
        )
        if since is None or write.received >= since:
            found.append(write)
    return sorted(found, key=lambda w: w.received)
