"""Workload objects, rendered without a cluster."""

from __future__ import annotations

import json

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.workloads.render import (
    render_deployment,
    render_inference_pool,
    render_service,
)

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


def test_inference_pools_select_what_their_service_selects() -> None:
    pools = {
        "targetPorts": [8000, 8001],
        "endpointPickers": {
            "stable": {"name": "m-stable-epp"},
            "canary": {"name": "m-canary-epp", "port": 9100},
        },
    }
    spec = SPEC.model_copy(
        update={
            "traffic": SPEC.traffic.model_validate(  # type: ignore[union-attr]
                {"gatewayAPI": {"httpRoute": "r", "inferencePool": pools}}
            )
        }
    )
    assert render_inference_pool("m", "ml", "uid-1", SPEC, "stable", "abc") is None
    for role, picker, port in (("stable", "m-stable-epp", 9002), ("canary", "m-canary-epp", 9100)):
        pool = render_inference_pool("m", "ml", "uid-1", spec, role, "abc")
        service = render_service("m", "ml", "uid-1", spec, role, "abc")
        assert pool is not None
        assert pool["metadata"]["name"] == service["metadata"]["name"] == f"m-{role}"
        assert pool["metadata"]["labels"] == service["metadata"]["labels"]
        assert pool["metadata"]["ownerReferences"] == service["metadata"]["ownerReferences"]
        assert pool["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
        assert pool["spec"]["targetPorts"] == [{"number": 8000}, {"number": 8001}]
        assert pool["spec"]["endpointPickerRef"] == {
            "group": "",
            "kind": "Service",
            "name": picker,
            "port": {"number": port},
            "failureMode": "FailClose",
        }
