"""undo uses a revision's recorded spec only once verified, and writes it back exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonpatch
import pytest

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import HistoryEntry
from modelrollout.cli.undo import UndoRefused, undo_patch, verified_source
from modelrollout.workloads.render import ANNOTATION_SOURCE, render_deployment

UID = "md-uid"
OLD = ModelDeploymentSpec.model_validate(
    {
        "model": {"version": "1.0.0"},
        "template": {"spec": {"containers": [{"name": "s", "image": "example.test/m:1"}]}},
        "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        "traffic": {"gatewayAPI": {"httpRoute": "r"}},
    }
)


def entry(digest: str = OLD.digest(), revision: str = OLD.revision()) -> HistoryEntry:
    return HistoryEntry(
        version="2.0.0",
        revision="new",
        outcome="Promoted",
        from_version="1.0.0",
        from_revision=revision,
        from_digest=digest,
        finished_at=datetime(2026, 12, 5, tzinfo=UTC),
    )


def deployment(uid: str = UID) -> dict[str, Any]:
    return render_deployment("m", "ml", uid, OLD, 1)


def test_a_recorded_spec_of_our_own_revision_is_used() -> None:
    assert verified_source(entry(), UID, deployment()) == OLD.shaping()


def test_a_deployment_of_another_owner_is_refused() -> None:
    with pytest.raises(UndoRefused, match="is not this ModelDeployment's"):
        verified_source(entry(), UID, deployment(uid="someone-else"))


def test_a_planted_template_is_refused() -> None:
    """Anyone who may patch Deployments can rewrite the annotation: its hash then differs."""
    planted = deployment()
    source = json.loads(planted["metadata"]["annotations"][ANNOTATION_SOURCE])
    source["template"]["spec"]["serviceAccountName"] = "cluster-admin-sa"
    planted["metadata"]["annotations"][ANNOTATION_SOURCE] = json.dumps(source)
    with pytest.raises(UndoRefused, match="does not match its hash"):
        verified_source(entry(), UID, planted)
    with pytest.raises(UndoRefused, match="does not match its hash"):
        verified_source(entry(digest=""), UID, planted)  # an older history: the revision


@pytest.mark.parametrize("text", ["not json", "[]", '{"model": {}}'])
def test_a_record_that_is_no_spec_is_refused(text: str) -> None:
    broken = deployment()
    broken["metadata"]["annotations"][ANNOTATION_SOURCE] = text
    with pytest.raises(UndoRefused, match="is not a spec"):
        verified_source(entry(), UID, broken)


def test_the_patch_writes_the_old_revision_exactly_on_the_version_read() -> None:
    """Fields added since (a sidecar, a label, a new env) go: the result is the old
    revision, not a new one; and the patch applies only to the resourceVersion read."""
    newer = OLD.model_copy(deep=True).wire()
    newer["model"] = {"version": "2.0.0", "uri": "s3://m/2"}
    newer["template"]["metadata"] = {"labels": {"added": "since"}}
    newer["template"]["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    newer["service"]["targetPort"] = 9000
    body = {"metadata": {"name": "m", "resourceVersion": "42"}, "spec": newer}
    patched = jsonpatch.apply_patch(body, undo_patch(body, OLD.shaping()))
    assert ModelDeploymentSpec.model_validate(patched["spec"]).revision() == OLD.revision()
    assert patched["spec"]["service"]["port"] == newer["service"]["port"]  # the rest stays
    moved = {**body, "metadata": {**body["metadata"], "resourceVersion": "43"}}
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, undo_patch(body, OLD.shaping()))
