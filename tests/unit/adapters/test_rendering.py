"""Router patches and workload objects, rendered without a cluster."""

from __future__ import annotations

import json
from typing import Any

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.routing.gateway_api import find_backend_refs, weight_patch
from modelrollout.workloads.render import render_deployment, render_service


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ml"},
        "spec": {"rules": [{"backendRefs": refs} for refs in rules]},
    }


STABLE, CANARY = "m-stable", "m-canary"


def test_refs_are_found_only_in_rules_that_reference_both_services() -> None:
    r = route(
        [{"name": "other", "port": 80}],
        [{"name": STABLE, "port": 80, "weight": 100}, {"name": CANARY, "port": 80}],
        [{"name": STABLE, "port": 80}],
    )
    refs = find_backend_refs(r, STABLE, CANARY)
    assert [(x.rule, x.index, x.service, x.weight) for x in refs] == [
        (1, 0, STABLE, 100),
        (1, 1, CANARY, 1),  # Gateway API's default weight
    ]


def test_refs_to_other_kinds_or_namespaces_do_not_count() -> None:
    r = route(
        [
            {"name": STABLE, "port": 80},
            {"name": CANARY, "kind": "ServiceImport", "group": "multicluster.x-k8s.io"},
        ],
        [{"name": STABLE, "port": 80}, {"name": CANARY, "port": 80, "namespace": "elsewhere"}],
    )
    assert find_backend_refs(r, STABLE, CANARY) == []


def test_weight_patch_touches_only_weights_guarded_by_names() -> None:
    r = route([{"name": STABLE, "port": 80, "weight": 100}, {"name": CANARY, "port": 80}])
    ops = weight_patch(find_backend_refs(r, STABLE, CANARY), STABLE, 25)
    assert ops == [
        {"op": "test", "path": "/spec/rules/0/backendRefs/0/name", "value": STABLE},
        {"op": "add", "path": "/spec/rules/0/backendRefs/0/weight", "value": 75},
        {"op": "test", "path": "/spec/rules/0/backendRefs/1/name", "value": CANARY},
        {"op": "add", "path": "/spec/rules/0/backendRefs/1/weight", "value": 25},
    ]


SPEC = ModelDeploymentSpec.model_validate(
    {
        "replicas": 3,
        "model": {"version": "2.1.0", "uri": "s3://models/m/2.1.0"},
        "template": {
            "metadata": {"labels": {"team": "fraud"}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "srv:2",
                        "env": [{"name": "MODEL_VERSION", "value": "x"}],
                    }
                ]
            },
        },
        "service": {"port": 8000, "targetPort": 8080},
        "strategy": {"canary": {"steps": [{"setWeight": 5}]}},
        "traffic": {"gatewayAPI": {"httpRoute": "r"}},
    }
)


def test_deployment_per_revision_owned_labelled_and_given_the_model() -> None:
    dep = render_deployment("m", "ml", "uid-1", SPEC, 2)
    revision = SPEC.revision()
    assert dep["metadata"]["name"] == f"m-{revision}"
    assert dep["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert dep["metadata"]["ownerReferences"][0]["controller"] is True
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"]["matchLabels"] == {
        "modelrollout.io/name": "m",
        "modelrollout.io/revision": revision,
    }
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["team"] == "fraud"
    assert labels["modelrollout.io/revision"] == revision
    env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {
        "MODEL_NAME": "m",
        "MODEL_VERSION": "2.1.0",  # ours wins over the template's
        "MODEL_REVISION": revision,
        "MODEL_URI": "s3://models/m/2.1.0",
    }


def test_rendering_is_deterministic_and_leaves_the_spec_alone() -> None:
    assert render_deployment("m", "ml", "u", SPEC, 2) == render_deployment("m", "ml", "u", SPEC, 2)
    assert "labels" not in SPEC.template["spec"]
    assert SPEC.template["metadata"]["labels"] == {"team": "fraud"}


def test_services_select_one_revision() -> None:
    svc = render_service("m", "ml", "u", SPEC, "canary", "abc")
    assert svc["metadata"]["name"] == "m-canary"
    assert svc["spec"]["selector"] == {
        "modelrollout.io/name": "m",
        "modelrollout.io/revision": "abc",
    }
    assert svc["spec"]["ports"][0]["port"] == 8000
    assert svc["spec"]["ports"][0]["targetPort"] == 8080


def test_each_revision_records_its_spec_verbatim_for_undo() -> None:
    dep = render_deployment("m", "ml", "u", SPEC, 2)
    source = json.loads(dep["metadata"]["annotations"]["modelrollout.io/source"])
    restored = SPEC.model_copy(
        update={
            "model": SPEC.model.model_validate(source["model"]),
            "template": source["template"],
        }
    )
    assert restored.revision() == SPEC.revision()
