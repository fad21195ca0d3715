"""`kubectl modelrollout status` shows each step kind and the traffic a canary gets."""

from __future__ import annotations

from rich.console import Console

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.cli.view import render


def test_mirror_and_header_route_steps_and_canary_traffic_are_shown() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"version": "2"},
            "template": {},
            "strategy": {
                "canary": {
                    "steps": [
                        {"mirror": {"percent": 100}},
                        {"headerRoute": {"match": [{"cookie": {"name": "arm", "value": "b"}}]}},
                        {"setWeight": 20},
                        {"mirror": {"percent": 0}},
                        {"headerRoute": {"match": []}},
                    ]
                }
            },
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        }
    )
    status = ModelDeploymentStatus.model_validate(
        {
            "phase": "Progressing",
            "currentStep": 2,
            "stable": {"version": "1", "revision": "a", "weight": 100},
            "canary": {
                "version": "2",
                "revision": "b",
                "mirror": 100,
                "headerRoute": [{"name": "X-Canary", "value": "true"}],
            },
        }
    )
    console = Console(record=True, width=120)
    console.print(render("m", spec, status))
    text = console.export_text()
    assert "mirror 100%" in text
    assert "headerRoute Cookie~^(.*;[ \\t]*)?arm=b([ \\t]*;.*)?$" in text
    assert "mirror off" in text
    assert "headerRoute off" in text
    assert "0% + 100% mirrored + X-Canary=true" in text


def test_the_judges_running_evidence_is_shown_per_check() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"version": "2"},
            "template": {},
            "strategy": {"canary": {"steps": [{"setWeight": 5}, {"pause": {}}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
            "analysis": {
                "prometheus": {"url": "http://p"},
                "judge": {
                    "falseRollbackRate": 0.01,
                    "checks": [
                        {"kind": "errors"},
                        {"kind": "latency", "threshold": "500ms"},
                        {"kind": "predictions"},
                    ],
                },
            },
        }
    )
    status = ModelDeploymentStatus.model_validate(
        {
            "phase": "Progressing",
            "stable": {"version": "1", "revision": "a", "weight": 95},
            "canary": {"version": "2", "revision": "b", "weight": 5},
            "analysis": {
                "judge": {
                    "message": "ignored when there are checks",
                    "checks": [
                        {
                            "name": "errors",
                            "canaryRequests": 1000,
                            "canaryBad": 41,
                            "stableRequests": 19000,
                            "stableBad": 57,
                            "evidence": 87.2,
                        },
                        {"name": "latency", "kind": "latency", "evidence": 1e300},
                        {
                            "name": "predictions",
                            "kind": "predictions",
                            "buckets": ["setosa", "versicolor"],
                            "canaryCounts": [54, 46],
                            "stableCounts": [333, 667],
                            "canaryRequests": 100,
                            "stableRequests": 1000,
                            "slots": 4,
                            "evidence": 12,
                        },
                    ],
                }
            },
        }
    )
    console = Console(record=True, width=160)
    console.print(render("m", spec, status))
    text = console.export_text()
    assert (
        "judge: errors (5xx answers): canary 4.1% (41/1000) vs stable 0.3% (57/19000), "
        "evidence 87.2x (rollback at 300x)"
    ) in text, "1 / falseRollbackRate, split over three checks"
    assert (
        "judge: latency (slower than the threshold): canary n/a (0/0) vs stable n/a (0/0), "
        "evidence 1.0e+300x"
    ) in text
    assert (
        "judge: predictions (shares of outputs): the largest shift is setosa, canary 54.0% "
        "vs stable 33.3%, evidence 12x (rollback at 300x)"
    ) in text
    status.analysis.judge.checks = []  # type: ignore[union-attr]
    status.analysis.judge.message = "no evidence yet: no request counts"  # type: ignore[union-attr]
    console = Console(record=True, width=160)
    console.print(render("m", spec, status))
    assert "judge: no evidence yet: no request counts" in console.export_text()


def test_what_the_cluster_holds_is_never_markup_or_a_terminal_control() -> None:
    """A status written before the CRD refused such strings (or by someone else) is shown
    literally: rich markup stays text, escapes are shown escaped, nothing crashes."""
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"version": "2"},
            "template": {},
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        }
    )
    hostile = "v2 [/] [link=https://evil.example]x[/link] \x1b[2J\x1b]8;;http://e\x07 \u202e"
    status = ModelDeploymentStatus.model_validate(
        {
            "phase": "Progressing",
            "message": hostile,
            "stable": {"version": hostile, "revision": "a", "weight": 100},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "X",
                    "message": hostile,
                    "lastTransitionTime": "2026-12-05T00:00:00Z",
                }
            ],
        }
    )
    console = Console(record=True, width=400, force_terminal=True)
    console.print(render("m", spec, status))
    raw = console.export_text(styles=True, clear=False)
    assert "\x1b[2J" not in raw
    assert "\x07" not in raw
    assert "\u202e" not in raw
    assert "\x1b]8" not in raw, "no hyperlink escape reaches the terminal"
    text = console.export_text()
    assert "[link=https://evil.example]x[/link]" in text
    assert "v2 [/]" in text
    assert "\\x1b[2J" in text


def test_a_budget_and_a_revision_handing_traffic_back_are_shown() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {
            "replicas": 4,
            "model": {"version": "2"},
            "template": {},
            "strategy": {"canary": {"steps": [{"setWeight": 50}], "capacity": {"maxSurge": 1}}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        }
    )
    status = ModelDeploymentStatus.model_validate(
        {
            "phase": "RolledBack",
            "replicas": 5,
            "stable": {"version": "1", "revision": "a", "weight": 75, "replicas": 3},
            "returning": {"version": "2", "revision": "b", "weight": 25, "replicas": 2},
        }
    )
    console = Console(record=True, width=120)
    console.print(render("m", spec, status))
    text = console.export_text()
    assert "budget: 4 + 1 pods, 5 asked" in text
    assert "returning  2" in text
    assert "25%" in text


def test_the_route_its_backends_and_their_weights_are_shown() -> None:
    pools = {
        "targetPorts": [8000],
        "endpointPickers": {"stable": {"name": "llm-s-epp"}, "canary": {"name": "llm-c-epp"}},
    }
    body = {
        "model": {"version": "2"},
        "template": {},
        "strategy": {"canary": {"steps": [{"setWeight": 1}]}},
        "traffic": {"gatewayAPI": {"httpRoute": "chat", "inferencePool": pools}},
    }
    status = ModelDeploymentStatus.model_validate(
        {
            "phase": "Progressing",
            "stable": {"version": "1", "revision": "a", "weight": 99},
            "canary": {"version": "2", "revision": "b", "weight": 1},
        }
    )

    def text(spec: ModelDeploymentSpec, st: ModelDeploymentStatus) -> str:
        console = Console(record=True, width=160)
        console.print(render("llm", spec, st))
        return console.export_text()

    pooled = text(ModelDeploymentSpec.model_validate(body), status)
    assert "route: HTTPRoute chat -> InferencePools llm-stable (99%) and llm-canary (1%)" in pooled
    assert "pickers llm-s-epp and llm-c-epp" in pooled
    body["traffic"] = {"gatewayAPI": {"httpRoute": "chat"}}
    assert "-> Services llm-stable (99%)" in text(ModelDeploymentSpec.model_validate(body), status)
    body["traffic"] = {"gatewayAPI": {"grpcRoute": "triton"}}
    grpc = text(ModelDeploymentSpec.model_validate(body), status)
    assert "route: GRPCRoute triton -> Services llm-stable (99%)" in grpc
    body["traffic"] = {"istio": {"virtualService": "llm", "httpRoute": "chat"}}
    vs = text(ModelDeploymentSpec.model_validate(body), status)
    assert "route: VirtualService llm (HTTP route chat) -> Services llm-stable (99%)" in vs
    body["traffic"] = {"replicaRatio": {}}
    body["replicas"] = 4
    ratio = ModelDeploymentSpec.model_validate(body)
    pods = ModelDeploymentStatus.model_validate(
        {
            "phase": "Progressing",
            "stable": {"version": "1", "revision": "a", "weight": 75, "readyReplicas": 3},
            "canary": {"version": "2", "revision": "b", "weight": 25, "readyReplicas": 1},
        }
    )
    shown_pods = text(ratio, pods)
    assert "route: replica ratio on Service llm -> ready pods: 3 stable (75%), 1 canary" in (
        shown_pods
    )
    body["traffic"] = {"gatewayAPI": {"httpRoute": "chat"}}
    mirrored = ModelDeploymentStatus.model_validate(
        {
            "phase": "Paused",
            "stable": {"version": "1", "revision": "a", "weight": 100},
            "canary": {
                "version": "2",
                "revision": "b",
                "weight": 0,
                "mirror": 50,
                "headerRoute": [{"name": "X-Canary", "value": "1"}],
            },
        }
    )
    both = text(ModelDeploymentSpec.model_validate(body), mirrored)
    assert "; 50% mirrored to llm-canary; X-Canary=1 to llm-canary" in both
    body.pop("traffic")
    body["strategy"] = {"blueGreen": {}}
    healthy = ModelDeploymentStatus.model_validate({"phase": "Healthy"})
    assert "route: none" in text(ModelDeploymentSpec.model_validate(body), healthy)
