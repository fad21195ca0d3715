"""The resource models, the generated CRD, and durations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from modelrollout.api.crd import custom_resource_definition, render
from modelrollout.api.durations import format_duration, parse_duration
from modelrollout.api.spec import Analysis, ModelDeploymentSpec
from testenv.settings import REPO_ROOT

CRD_FILE = REPO_ROOT / "crds" / "modelrollout.io_modeldeployments.yaml"


def test_committed_crd_is_generated_from_the_models() -> None:
    assert CRD_FILE.read_text() == render(), "run `make crds` and commit the result"


def _walk(schema: dict[str, Any], path: str) -> list[str]:
    missing = [] if "description" in schema or path.endswith("metadata") else [path]
    for name, prop in schema.get("properties", {}).items():
        missing += _walk(prop, f"{path}.{name}")
    if "items" in schema:
        missing += _walk(schema["items"], f"{path}[]")
    return missing


def test_every_field_is_described_for_kubectl_explain() -> None:
    root = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(root, "") == []


def test_schema_is_structural_no_refs_or_unions() -> None:
    text = render()
    for forbidden in ("$ref", "anyOf", "allOf", "title:"):
        assert forbidden not in text


def test_cel_rules_are_present() -> None:
    text = render()
    assert "exists_one" in text
    assert ".isSorted()" in text
    assert "self.max >= self.min" in text


def test_spec_defaults() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"version": "1"},
            "template": {},
            "strategy": {"canary": {"steps": [{"setWeight": 5}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        }
    )
    assert spec.replicas == 1
    assert spec.service.port == 80
    assert spec.service.target_port == "http"
    assert spec.progress_deadline_seconds == 1800


def test_revision_changes_with_version_and_template_not_with_replicas() -> None:
    def revision(**overrides: Any) -> str:
        body: dict[str, Any] = {
            "model": {"version": "1"},
            "template": {"spec": {"containers": [{"name": "s", "image": "a"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 5}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        }
        body.update(overrides)
        return ModelDeploymentSpec.model_validate(body).revision()

    assert revision() == revision(replicas=9)
    assert revision() != revision(model={"version": "2"})
    assert revision() != revision(template={"spec": {"containers": [{"name": "s", "image": "b"}]}})


def test_bad_weight_is_rejected_by_the_model_too() -> None:
    with pytest.raises(ValidationError):
        ModelDeploymentSpec.model_validate(
            {
                "model": {"version": "1"},
                "template": {},
                "strategy": {"canary": {"steps": [{"setWeight": 101}]}},
                "traffic": {"gatewayAPI": {"httpRoute": "r"}},
            }
        )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("1m30s", 90)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "1d", "-1s", "1.5s", "s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (120, "2m"), (3600, "1h"), (0.5, "500ms"), (90, "90s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def _analysis(**fields: Any) -> dict[str, Any]:
    return {"prometheus": {"url": "http://p:9090"}, **fields}


def test_analysis_takes_metrics_a_judge_or_both_but_not_neither() -> None:

    judge_only = Analysis.model_validate(_analysis(judge={}))
    assert judge_only.metrics == []
    assert judge_only.judge is not None
    assert judge_only.judge.false_rollback_rate == 0.01
    [errors] = judge_only.judge.checks
    assert (errors.kind, errors.label(), errors.tolerance_value()) == ("errors", "errors", 0.25)
    with pytest.raises(ValidationError, match="analysis needs metrics, a judge, or both"):
        Analysis.model_validate(_analysis())
    checks = [
        {"kind": "latency", "threshold": "250ms"},
        {"kind": "latency", "name": "latency-shape"},
        {"kind": "predictions"},
        {"kind": "ratio", "name": "clicks", "series": "clicks_total", "better": "higher"},
    ]
    judged = Analysis.model_validate(_analysis(judge={"checks": checks}))
    assert judged.judge is not None
    threshold, shape, predictions, clicks = judged.judge.checks
    assert (threshold.threshold_seconds(), threshold.compares_shares()) == (0.25, False)
    assert (shape.threshold_seconds(), shape.compares_shares()) == (None, True)
    assert (shape.tolerance_value(), predictions.tolerance_value()) == (0.05, 0.05)
    assert (clicks.label(), clicks.tolerance_value(), clicks.better) == ("clicks", 0.25, "higher")


@pytest.mark.parametrize(
    ("judge", "complaint"),
    [
        ({"checks": [{"kind": "latency", "threshold": "0s"}]}, "threshold must be longer"),
        ({"checks": [{"kind": "errors", "threshold": "1s"}]}, "threshold belongs to a latency"),
        ({"checks": [{"kind": "errors", "by": "class"}]}, "by belongs to a predictions check"),
        ({"checks": [{"kind": "errors", "better": "higher"}]}, "total and better belong"),
        ({"checks": [{"kind": "errors", "series": "x"}]}, "count other series with a ratio"),
        ({"checks": [{"kind": "predictions", "tolerance": 1}]}, "is a share: below 1"),
        ({"checks": [{"kind": "errors"}, {"kind": "errors"}]}, "each check needs its own name"),
        ({"checks": []}, "at least 1 item"),
        ({"checks": [{"kind": "drift"}]}, "Input should be 'errors'"),
        ({"checks": [{"kind": "errors", "tolerance": -0.1}]}, "greater than or equal to 0"),
        ({"falseRollbackRate": 0}, "greater than or equal to 0.0001"),
        ({"falseRollbackRate": 0.5}, "less than or equal to 0.2"),
        ({"compare": "baseline"}, "Input should be 'stable'"),
    ],
)
def test_a_judge_out_of_range_is_refused(judge: dict[str, Any], complaint: str) -> None:

    with pytest.raises(ValidationError, match=complaint):
        Analysis.model_validate(_analysis(judge=judge))


def test_the_crd_has_a_scale_subresource_on_paths_the_status_fills() -> None:
    from modelrollout.api.crd import custom_resource_definition
    from modelrollout.api.status import ModelDeploymentStatus

    (version,) = custom_resource_definition()["spec"]["versions"]
    scale = version["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert {"replicas", "selector"} <= set(ModelDeploymentStatus.wire_keys())


def _budgeted(strategy: dict[str, Any], replicas: int) -> dict[str, Any]:
    return {
        "replicas": replicas,
        "model": {"version": "1"},
        "template": {},
        "strategy": strategy,
        "traffic": {"gatewayAPI": {"httpRoute": "r"}},
    }


@pytest.mark.parametrize(
    ("strategy", "replicas", "complaint"),
    [
        ({"blueGreen": {"capacity": {"maxSurge": 3}}}, 4, "a blue/green preview is full size"),
        ({"canary": {"steps": [{"setWeight": 5}], "capacity": {"maxSurge": 0}}}, 1, "with 1 rep"),
        ({"canary": {"steps": [{"setWeight": 5}], "capacity": {"maxSurge": -1}}}, 4, "greater"),
    ],
)
def test_a_budget_that_cannot_hold_a_rollout_is_refused(
    strategy: dict[str, Any], replicas: int, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        ModelDeploymentSpec.model_validate(_budgeted(strategy, replicas))


@pytest.mark.parametrize(
    ("strategy", "replicas"),
    [
        ({"blueGreen": {"capacity": {"maxSurge": 4}}}, 4),
        ({"canary": {"steps": [{"setWeight": 5}], "capacity": {"maxSurge": 0}}}, 2),
        ({"canary": {"steps": [{"setWeight": 5}], "capacity": {"maxSurge": 0}}}, 0),
        ({"canary": {"steps": [{"setWeight": 5}], "capacity": {"maxSurge": 1}}}, 1),
    ],
)
def test_a_budget_that_holds_a_rollout_is_taken(strategy: dict[str, Any], replicas: int) -> None:
    spec = ModelDeploymentSpec.model_validate(_budgeted(strategy, replicas))
    capacity = spec.strategy.capacity()
    assert capacity is not None
    assert capacity.max_surge == strategy[spec.strategy.kind]["capacity"]["maxSurge"]


def _pooled(**pools: Any) -> dict[str, Any]:
    spec = _budgeted({"canary": {"steps": [{"setWeight": 1}]}}, 2)
    pickers = {"stable": {"name": "llm-stable-epp"}, "canary": {"name": "llm-canary-epp"}}
    given = {"targetPorts": [8000], "endpointPickers": pickers, **pools}
    spec["traffic"]["gatewayAPI"]["inferencePool"] = given
    return spec


def test_inference_pools_take_their_defaults() -> None:
    pools = ModelDeploymentSpec.model_validate(_pooled()).inference_pools()
    assert pools is not None
    assert (pools.app_protocol, pools.failure_mode) == ("http", "FailClose")
    assert pools.endpoint_pickers.canary.port == 9002
    assert (
        ModelDeploymentSpec.model_validate(_budgeted({"blueGreen": {}}, 1)).inference_pools()
        is None
    )


@pytest.mark.parametrize(
    ("pools", "complaint"),
    [
        ({"targetPorts": [8000, 8000]}, "targetPorts must be unique"),
        ({"targetPorts": []}, "at least 1"),
        ({"targetPorts": list(range(8000, 8009))}, "at most 8"),
        ({"targetPorts": [0]}, "greater than or equal to 1"),
        ({"failureMode": "Retry"}, "FailOpen"),
        ({"appProtocol": "grpc"}, "kubernetes.io/h2c"),
        (
            {"endpointPickers": {"stable": {"name": "epp"}, "canary": {"name": "epp"}}},
            "one picker serves one pool",
        ),
    ],
)
def test_inference_pools_out_of_range_are_refused(pools: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        ModelDeploymentSpec.model_validate(_pooled(**pools))


@pytest.mark.parametrize(
    ("gateway", "complaint"),
    [
        ({}, "exactly one route"),
        ({"httpRoute": "r", "grpcRoute": "r"}, "exactly one route"),
        ({"grpcRoute": "r", "inferencePool": _pooled()["traffic"]["gatewayAPI"]["inferencePool"]},
         "InferencePools are HTTPRoute backends"),
    ],
)  # fmt: skip
def test_gateway_api_names_one_route(gateway: dict[str, Any], complaint: str) -> None:
    spec = _pooled()
    spec["traffic"]["gatewayAPI"] = gateway
    with pytest.raises(ValidationError, match=complaint):
        ModelDeploymentSpec.model_validate(spec)


def test_a_grpc_route_is_a_gateway_api_route() -> None:
    spec = _pooled()
    spec["traffic"] = {"gatewayAPI": {"grpcRoute": "triton"}}
    gateway = ModelDeploymentSpec.model_validate(spec).traffic
    assert gateway is not None
    assert gateway.gateway_api is not None
    assert (gateway.kind, gateway.gateway_api.describe()) == ("gatewayAPI", "GRPCRoute triton")


def test_server_dependent_names_have_no_crd_default() -> None:
    """The API server would store the generic name, and a later `server: vllm` could
    not tell it from one the user wrote: those names are defaulted when read."""
    root = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    analysis = root["properties"]["spec"]["properties"]["analysis"]["properties"]
    conventions = analysis["prometheus"]["properties"]["conventions"]["properties"]
    assert conventions["server"]["default"] == "modelServer"
    for name in ("requestsTotal", "codeLabel", "timeToFirstTokenSeconds", "queueDepth"):
        assert "default" not in conventions[name], name
    assert conventions["predictionsTotal"]["default"] == "model_predictions_total"


@pytest.mark.parametrize("kind", ["latency", "timeToFirstToken", "interTokenLatency"])
def test_a_threshold_belongs_to_every_latency_kind(kind: str) -> None:
    analysis = _analysis(judge={"checks": [{"kind": kind, "threshold": "200ms"}]})
    assert analysis["judge"]["checks"][0]["kind"] == kind
    spec = ModelDeploymentSpec.model_validate(
        _budgeted({"blueGreen": {}}, 1) | {"analysis": analysis}
    )
    assert spec.analysis is not None
    with pytest.raises(ValidationError, match="threshold belongs to a latency check"):
        ModelDeploymentSpec.model_validate(
            _budgeted({"blueGreen": {}}, 1)
            | {"analysis": _analysis(judge={"checks": [{"kind": "errors", "threshold": "1s"}]})}
        )
