"""`kubectl modelrollout lint`: offline checks in plain words, with exit codes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout.cli.lint import lint_document
from modelrollout.cli.main import main
from testenv.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "fraud-scorer.yaml"
GOOD = next(d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d["kind"] == "ModelDeployment")


def broken(change: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    doc["spec"].update(change)
    return doc


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        ({"replicas": "four"}, "spec.replicas", "is not of type 'integer'"),
        ({"strategy": {"canary": {"steps": [{"setWeight": 150}]}}}, "setWeight", "maximum of 100"),
        (
            {"strategy": {"canary": {"steps": [{"setWeight": 50}, {"setWeight": 10}]}}},
            "spec.strategy.canary",
            "must not decrease",
        ),
        ({"strategy": {}}, "spec.strategy", "exactly one strategy"),
        (
            {"strategy": {"canary": {"steps": [{"pause": {"duration": "2 minutes"}}]}}},
            "duration",
            "does not match",
        ),
        ({"model": {}}, "spec.model", "'version' is a required property"),
        ({"replica": 3}, "spec", "unknown field: replica"),
        (
            {"analysis": {**GOOD["spec"]["analysis"], "interval": "0s"}},
            "spec.analysis",
            "interval must be at least 1s",
        ),
        (
            {"analysis": {**GOOD["spec"]["analysis"], "interval": "999ms"}},
            "spec.analysis",
            "interval must be at least 1s",
        ),
        (
            {
                "analysis": {
                    **GOOD["spec"]["analysis"],
                    "prometheus": {"url": "http://p:9090", "timeout": "31s"},
                }
            },
            "spec.analysis.prometheus",
            "timeout must be longer than 0s and at most 30s",
        ),
        (
            {
                "analysis": {
                    **GOOD["spec"]["analysis"],
                    "prometheus": {"url": "http://p:9090", "scrapeInterval": "500ms"},
                }
            },
            "spec.analysis.prometheus",
            "scrapeInterval must be at least 1s",
        ),
        (
            {"analysis": {**GOOD["spec"]["analysis"], "window": "10s"}},
            "spec.analysis",
            "must span at least two scrapes",
        ),
        (
            {
                "analysis": {
                    **GOOD["spec"]["analysis"],
                    "prometheus": {"url": "http://p", "timeout": "0s"},
                }
            },
            "spec.analysis.prometheus",
            "timeout must be longer than 0s",
        ),
        (
            {"traffic": {"gatewayAPI": {"httpRoute": "r"}, "linkerd": {}}},
            "spec.traffic",
            "unknown field: linkerd",
        ),
        (
            {"traffic": {"gatewayAPI": {"httpRoute": "r"}, "istio": {"virtualService": "r"}}},
            "spec.traffic",
            "set exactly one router",
        ),
    ],
)
def test_problems_say_where_and_what(change: dict[str, Any], where: str, says: str) -> None:
    problems = lint_document(broken(change))
    assert any(where in p.path and says in p.message for p in problems), [str(p) for p in problems]


def test_the_example_is_valid() -> None:
    assert lint_document(GOOD) == []


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(EXAMPLE)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken({"replicas": -1})))
    assert main(["lint", str(bad)]) == 1
    assert "spec.replicas" in capsys.readouterr().out
    empty = tmp_path / "empty.yaml"
    empty.write_text("kind: ConfigMap\n")
    assert main(["lint", str(empty)]) == 1
    assert main(["lint", str(tmp_path / "missing.yaml")]) == 2


def test_a_canary_needs_a_router_but_blue_green_does_not() -> None:
    doc = copy.deepcopy(GOOD)
    del doc["spec"]["traffic"]
    assert any("a canary needs spec.traffic" in p.message for p in lint_document(doc))
    doc["spec"]["strategy"] = {"blueGreen": {}}
    assert lint_document(doc) == []


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("fraud-scorer", True),
        ("f" * 56, True),  # fraud...-canary is 63 characters: a DNS-1035 label
        ("f" * 57, False),
        ("fraud.v2", False),  # a DNS subdomain, but not a Service name
        ("2fraud", False),
        ("fraud-", False),
        ("Fraud", False),
    ],
)
def test_a_name_is_one_our_services_can_be_named_after(name: str, valid: bool) -> None:
    doc = copy.deepcopy(GOOD)
    doc["metadata"]["name"] = name
    problems = lint_document(doc)
    if valid:
        assert problems == []
        return
    assert [p.path for p in problems] == ["metadata.name"]
    assert "the Services <name>-stable and <name>-canary" in problems[0].message


def header_route(condition: dict[str, Any]) -> dict[str, Any]:
    return {"strategy": {"canary": {"steps": [{"headerRoute": {"match": [condition]}}]}}}


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ({"cookie": {"name": "n" * 32, "value": "v" * 40}}, None),
        ({"cookie": {"name": "n" * 33, "value": "v"}}, "at most 32 characters"),
        ({"cookie": {"name": "arm", "value": "v" * 41}}, "at most 40 characters"),
        ({"header": {"name": "x-arm", "value": "v" * 4096}}, None),
        ({"header": {"name": "x-arm", "value": "v" * 4097}}, "at most 4096 characters"),
        ({"header": {"name": "x-arm", "value": "v" * 64, "type": "RegularExpression"}}, None),
        (
            {"header": {"name": "x-arm", "value": "v" * 65, "type": "RegularExpression"}},
            "a RegularExpression header value is at most 64 characters",
        ),
    ],
)
def test_header_and_cookie_values_stay_within_what_gateways_accept(
    condition: dict[str, Any], says: str | None
) -> None:
    problems = lint_document(broken(header_route(condition)))
    if says is None:
        assert problems == []
        return
    assert len(problems) == 1, problems
    assert says in problems[0].message
