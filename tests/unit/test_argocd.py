"""The Argo CD health script and actions in Lua 5.1 (Argo CD's sandbox), on ModelDeployments
recorded from real end-to-end runs (tests/e2e/test_argocd_live.py) and on edge cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.cli.requests import refusal
from modelrollout.engine.model import REQUEST_ACTIONS, Request
from modelrollout.reconcile import parse_request
from modelrollout.routing.gateway_patch import RULE_PREFIX
from testenv.argocd import CONFIG_MAP, SCRIPTS, ArgoLua, config_map

NOW = datetime(2026, 11, 23, 7, 30, 5, tzinfo=UTC)
RECORDED = sorted((SCRIPTS / "testdata").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def case_id(case: dict[str, Any]) -> str:
    return Path(case["inputPath"]).stem


HEALTH_TESTS = load(SCRIPTS / "health_test.yaml")["tests"]
DISCOVERY_TESTS = load(SCRIPTS / "actions" / "action_test.yaml")["discoveryTests"]


def test_every_recorded_object_has_a_health_and_a_discovery_expectation() -> None:
    assert len(RECORDED) >= 7, (
        "record them: MODELROLLOUT_RECORD=1 pytest tests/e2e/test_argocd_live.py"
    )
    names = {p.name for p in RECORDED}
    assert {Path(c["inputPath"]).name for c in HEALTH_TESTS} == names
    assert {Path(c["inputPath"]).name for c in DISCOVERY_TESTS} == names


@pytest.mark.parametrize("case", HEALTH_TESTS, ids=case_id)
def test_health_of_recorded_objects(case: dict[str, Any]) -> None:
    obj = load(SCRIPTS / case["inputPath"])
    assert ArgoLua().health(obj) == case["healthStatus"]


@pytest.mark.parametrize("case", DISCOVERY_TESTS, ids=case_id)
def test_discovery_on_recorded_objects(case: dict[str, Any]) -> None:
    obj = load(SCRIPTS / "actions" / case["inputPath"])  # relative to actions/, as upstream
    expected = {r["name"]: r["disabled"] for r in case["result"]}
    assert ArgoLua().discover(obj) == expected


def md(status: dict[str, Any] | None, generation: int = 3) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "m", "generation": generation}}
    if status is not None:
        obj["status"] = status
    return obj


def invalid(flag: str) -> dict[str, Any]:
    return {"type": "InvalidSpec", "status": flag, "reason": "RouteNotFound", "message": "gone"}


@pytest.mark.parametrize(
    ("obj", "health"),
    [
        (md(None), "Progressing"),
        (md({}), "Progressing"),
        (md({"observedGeneration": 2, "phase": "Healthy"}), "Progressing"),  # stale
        (md({"observedGeneration": "3", "phase": "Healthy"}), "Healthy"),  # json.Number
        (md({"observedGeneration": 3, "phase": "Healthy"}, generation=2), "Healthy"),
        (md({"observedGeneration": 3, "phase": "Pending"}), "Progressing"),
        (md({"observedGeneration": 3, "phase": "Progressing"}), "Progressing"),
        (md({"observedGeneration": 3, "phase": "Paused"}), "Suspended"),
        (md({"observedGeneration": 3, "phase": "RolledBack"}), "Degraded"),
        (md({"observedGeneration": 3, "phase": "Degraded"}), "Degraded"),
        (md({"observedGeneration": 3, "phase": "Whatever"}), "Progressing"),
        (
            md({"observedGeneration": 3, "phase": "Healthy", "conditions": [invalid("True")]}),
            "Degraded",
        ),
        (
            md({"observedGeneration": 3, "phase": "Healthy", "conditions": [invalid("False")]}),
            "Healthy",
        ),
    ],
)
def test_health_rules(obj: dict[str, Any], health: str) -> None:
    assert ArgoLua().health(obj)["status"] == health


def test_invalid_spec_message_is_the_conditions() -> None:
    obj = md({"observedGeneration": 3, "phase": "Healthy", "conditions": [invalid("True")]})
    assert ArgoLua().health(obj) == {"status": "Degraded", "message": "gone"}


def synthetic_statuses() -> list[dict[str, Any]]:
    statuses = []
    for phase in ("Pending", "Progressing", "Paused", "Healthy", "Degraded", "RolledBack"):
        for canary in (None, {"revision": "abc", "version": "2", "weight": 20}):
            for aborted in (None, "abc"):
                status: dict[str, Any] = {"phase": phase}
                if canary:
                    status["canary"] = canary
                if aborted:
                    status["abortedRevision"] = aborted
                statuses.append(status)
    return statuses


@pytest.mark.parametrize(
    "status",
    synthetic_statuses() + [load(p).get("status", {}) for p in RECORDED],
)
def test_discovery_agrees_with_the_kubectl_plugin(status: dict[str, Any]) -> None:
    disabled = ArgoLua().discover(md(status))
    assert set(disabled) == set(REQUEST_ACTIONS)
    model = ModelDeploymentStatus.model_validate(status)
    for action in REQUEST_ACTIONS:
        assert disabled[action] == (refusal(action, model) is not None), action


@pytest.mark.parametrize("action", REQUEST_ACTIONS)
@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_actions_write_exactly_the_plugins_request(action: str, path: Path) -> None:
    obj = load(path)
    out = ArgoLua(now=NOW).act(action, obj)
    annotations = dict(out["metadata"].pop("annotations"))
    token = annotations.pop("modelrollout.io/request")
    assert token == f"{action}:20261123T073005Z-argocd"
    assert re.fullmatch(rf"{action}:\d{{8}}T\d{{6}}Z-[a-z0-9]+", token)  # the plugin's shape
    assert parse_request({"modelrollout.io/request": token}) == Request(action, token)  # type: ignore[arg-type]
    before = obj["metadata"].pop("annotations", {})
    before.pop("modelrollout.io/request", None)  # a request already consumed is replaced
    assert annotations == before, "other annotations are kept"
    assert out == obj, "nothing else changes"


def test_actions_run_on_the_real_clock() -> None:
    token = ArgoLua().act("abort", md(None))["metadata"]["annotations"]["modelrollout.io/request"]
    stamp = datetime.strptime(token.split(":")[1], "%Y%m%dT%H%M%SZ-argocd").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


@pytest.mark.parametrize(
    "script",
    [
        "return string.format('%d', 1)",
        "return ('x'):upper()",
        "return math.floor(1.5)",
        "return io.open('/etc/passwd')",
        "return os.getenv('HOME')",
        "return require('os').exit()",
    ],
)
def test_the_sandbox_is_as_narrow_as_argo_cds(script: str) -> None:
    with pytest.raises(LuaError):
        ArgoLua().run(script, {})


def test_argocd_cm_is_generated_from_the_scripts() -> None:
    assert CONFIG_MAP.read_text() == config_map(), "stale: run `make argocd-cm`"
    data = yaml.safe_load(CONFIG_MAP.read_text())["data"]
    key = "modelrollout.io_ModelDeployment"
    assert data[f"resource.customizations.health.{key}"] == (SCRIPTS / "health.lua").read_text()
    actions = yaml.safe_load(data[f"resource.customizations.actions.{key}"])
    assert [d["name"] for d in actions["definitions"]] == list(REQUEST_ACTIONS)
    for definition in actions["definitions"]:
        path = SCRIPTS / "actions" / definition["name"] / "action.lua"
        assert definition["action.lua"] == path.read_text()


def test_example_application_ignores_what_the_operator_writes_on_routes() -> None:
    app = load(SCRIPTS.parents[2] / "application.yaml")
    assert app["kind"] == "Application"
    ignored = app["spec"]["ignoreDifferences"]
    route = next(i for i in ignored if i["kind"] == "HTTPRoute")
    assert route["group"] == "gateway.networking.k8s.io"
    expressions = route["jqPathExpressions"]
    assert expressions[0] == ".spec.rules[].backendRefs[]?.weight"
    assert any("RequestMirror" in e for e in expressions)
    assert any(RULE_PREFIX in e for e in expressions)
    grpc = next(i for i in ignored if i["kind"] == "GRPCRoute")
    assert (grpc["group"], grpc["jqPathExpressions"]) == (route["group"], expressions)
    assert (
        "ServerSideDiff=true"
        in app["metadata"]["annotations"]["argocd.argoproj.io/compare-options"]
    )
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
