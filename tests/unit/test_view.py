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
