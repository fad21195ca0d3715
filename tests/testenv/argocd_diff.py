"""Argo CD's view of a drifted route, without Argo CD: its server-side diff.

Argo CD's server-side diff (compare option ServerSideDiff=true) predicts the live object
by a dry-run server-side apply of the manifest from Git, then removes what the
Application's ignoreDifferences name from both sides before comparing: each
jqPathExpression `e` is run as `del(e)` by gojq, the jq Argo CD embeds (built from
hack/gojq). What is left to differ is what Argo CD would show as drift.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import yaml
from kubernetes import client

from testenv import settings
from testenv.binaries import ensure_kubernetes

APPLICATION = settings.REPO_ROOT / "argocd" / "application.yaml"
ARGOCD_MANAGER = "argocd-controller"


def ignored_expressions(group: str, kind: str) -> list[str]:
    """The example Application's jqPathExpressions for objects of `group`/`kind`."""
    app = yaml.safe_load(APPLICATION.read_text())
    return [
        expression
        for entry in app["spec"].get("ignoreDifferences") or []
        if (entry.get("group"), entry.get("kind")) == (group, kind)
        for expression in entry.get("jqPathExpressions") or []
    ]


def normalized(obj: dict[str, Any], expressions: list[str]) -> dict[str, Any]:
    """`obj` with every expression deleted in turn, as Argo CD's normalizer does."""
    ensure_kubernetes()
    gojq = settings.BIN_DIR / "gojq"
    for expression in expressions:
        done = subprocess.run(
            [str(gojq), "-c", f"del({expression})"],
            input=json.dumps(obj),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ValueError(f"gojq refused del({expression}): {done.stderr.strip()}")
        obj = json.loads(done.stdout)
    return obj


def predicted_live(
    api: client.ApiClient, manifest: dict[str, Any], group: str, version: str, plural: str
) -> dict[str, Any]:
    """What applying `manifest` (server-side, forced, as Argo CD syncs) would leave."""
    applied: Any = client.CustomObjectsApi(api).patch_namespaced_custom_object(
        group,
        version,
        manifest["metadata"]["namespace"],
        plural,
        manifest["metadata"]["name"],
        manifest,
        field_manager=ARGOCD_MANAGER,
        force=True,
        dry_run="All",
        _content_type="application/apply-patch+yaml",
    )
    return dict(applied)
