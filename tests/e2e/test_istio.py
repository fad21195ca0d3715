"""Rollouts through an Istio VirtualService on the real control plane, with Istio's
upstream CRDs (istio.io/api, from its Go module).

The user's VirtualService was written long before the rollout: several HTTP routes, one
of them to our two Services by the name the spec gives. The operator writes only that
route's weights, its mirror and a header route just ahead of it. After a promotion, a
rollback and an abort, the VirtualService is exactly the user's again; Argo CD, with the
example Application's ignoreDifferences, sees no drift in any version of it in between;
a VirtualService that is missing or not wired to our Services is InvalidSpec and changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from testenv.argocd_diff import ignored_expressions, normalized, predicted_live
from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import ISTIO, Scenario, condition_true, every_route_feature

NAME = "fraud"
PLURAL = "virtualservices"
ROUTED = {"istio": {"virtualService": NAME, "httpRoute": "primary"}}
GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
CANARY_HEADER = {"name": "X-Canary", "value": "true"}
STEPS = every_route_feature(CANARY_HEADER)
HELD = [{"setWeight": 1}, {"headerRoute": {"match": [{"header": CANARY_HEADER}]}}, {"pause": {}}]


def destination(host: str, weight: int) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": 80}}, "weight": weight}


def virtual_service(primary: list[dict[str, Any]]) -> dict[str, Any]:
    """A VirtualService as a platform team writes it: a health route, the model's
    `primary` route to `primary`, and a shadow route that is not ours to touch."""
    return {
        "apiVersion": f"{ISTIO[0]}/{ISTIO[1]}",
        "kind": "VirtualService",
        "metadata": {"name": NAME},
        "spec": {
            "hosts": ["fraud.example"],
            "gateways": ["mesh"],
            "http": [
                {
                    "name": "health",
                    "match": [{"uri": {"prefix": "/health"}}],
                    "route": [{"destination": {"host": "health"}}],
                },
                {
                    "name": "primary",
                    "match": [{"uri": {"prefix": "/v1"}}],
                    "timeout": "10s",
                    "retries": {"attempts": 2, "perTryTimeout": "4s"},
                    "route": primary,
                },
                {
                    "name": "legacy",
                    "route": [
                        destination(f"{NAME}-stable", 90),
                        destination(f"{NAME}-canary.{{ns}}.svc.cluster.local", 10),
                    ],
                },
            ],
        },
    }


def create_vs(s: Scenario, primary: list[dict[str, Any]]) -> dict[str, Any]:
    body = virtual_service(primary)
    legacy = body["spec"]["http"][2]["route"][1]["destination"]
    legacy["host"] = legacy["host"].replace("{ns}", s.namespace)
    return s.create_route(body)


@pytest.fixture
def s(make_scenario: Callable[..., Scenario], istio_crds: list[str]) -> Scenario:
    assert f"{PLURAL}.networking.istio.io" in istio_crds
    scenario = make_scenario(NAME, route=False)
    scenario.route_plural = PLURAL
    scenario.traffic("1.0.0", GOOD)
    return scenario


def test_a_canary_through_a_virtual_service_is_promoted_rolled_back_and_aborted(
    s: Scenario,
) -> None:
    ours = [destination(f"{NAME}-stable", 100), destination(f"{NAME}-canary", 0)]
    created = create_vs(s, ours)
    users = created["spec"]
    s.create("1.0.0", traffic=ROUTED, strategy={"canary": {"steps": STEPS}})
    s.wait_healthy("1.0.0")

    # Promoted: the mirror, the header route and the weights came and went.
    s.traffic("2.0.0", GOOD)
    s.set_version("2.0.0")
    v2 = s.wait_canary("2.0.0")
    seen = s.wait_status(lambda st: (st.get("canary") or {}).get("weight") == 50, "at 50%")
    assert seen["canary"]["revision"] == v2
    s.wait_healthy("2.0.0")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's VirtualService again")
    assert s.recorder is not None
    assert s.recorder.weights[:3] == [0, 1, 50], "weights follow the steps from 1%"
    assert s.recorder.weights[-1] == 0
    primaries = [e for http in s.recorder.rules for e in http if e.get("name") == "primary"]
    mirrored = [(e.get("mirror"), e.get("mirrorPercentage")) for e in primaries]
    canary = {"host": f"{NAME}-canary", "port": {"number": 80}}
    assert (canary, {"value": 100}) in mirrored, "the mirror is to the canary Service"
    with_header = [http for http in s.recorder.rules if len(http) == 4]
    assert with_header, "a header route was added"
    header = with_header[0][1]
    assert [e.get("name") for e in with_header[0]] == [
        "health",
        f"modelrollout-{NAME}-canary-0",
        "primary",
        "legacy",
    ], "the header route goes just ahead of the route it serves"
    assert header == {
        "name": f"modelrollout-{NAME}-canary-0",
        "match": [{"uri": {"prefix": "/v1"}, "headers": {"x-canary": {"exact": "true"}}}],
        "route": [{"destination": canary}],
        "timeout": "10s",
        "retries": {"attempts": 2, "perTryTimeout": "4s"},
    }, "it repeats the route's match and settings, to the canary alone"
    assert all(http[-1] == users["http"][2] for http in s.recorder.rules), "legacy untouched"

    # Rolled back: the judge's failure takes everything of ours off the VirtualService.
    s.traffic("3.0.0", BAD)
    s.set_version("3.0.0")
    v3 = s.wait_canary("3.0.0")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "rollback")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's VirtualService again")
    assert s.status()["abortedRevision"] == v3

    # Aborted by a person while it holds 1% and a header route.
    s.traffic("4.0.0", GOOD)
    s.patch({"spec": {"strategy": {"canary": {"steps": HELD}}}})
    s.set_version("4.0.0")
    s.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at 1%")
    s.wait_route_weight(1)
    s.request("abort")
    s.wait_status(lambda st: st.get("phase") == "RolledBack", "abort")
    wait_until(lambda: s.route_spec() == users, timeout=30, what="the user's VirtualService again")
    assert s.status()["stable"]["revision"] == v2

    # Argo CD: Git's VirtualService, as a server-side apply would leave it, against every
    # version the rollouts wrote: with the example's ignoreDifferences, no drift.
    expressions = ignored_expressions(ISTIO[0], "VirtualService")
    assert len(expressions) == 3
    manifest = {**created, "metadata": {"name": NAME, "namespace": s.namespace}}
    git = {"spec": predicted_live(s.api, manifest, *ISTIO, PLURAL)["spec"]}
    assert git == {"spec": users}
    expected = normalized(git, expressions)
    versions = [{"spec": {**users, "http": http}} for http in s.recorder.rules]
    assert len(versions) > 5
    for version in versions:
        assert normalized(version, expressions) == expected, version
    header_only = expressions[2:]
    assert any(normalized(v, header_only) != normalized(git, header_only) for v in versions)


@pytest.mark.parametrize("wired", [False, None], ids=["not wired to our Services", "missing"])
def test_a_virtual_service_missing_or_not_ours_is_invalid_and_changes_nothing(
    s: Scenario, api: client.ApiClient, wired: bool | None
) -> None:
    before = None
    if wired is False:  # `primary` sends to a Service of the user's beside ours
        theirs = [destination(f"{NAME}-stable", 90), destination("other", 10)]
        before = create_vs(s, theirs)["spec"]
    s.create("1.0.0", traffic=ROUTED)
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    if before is None:
        assert invalid["reason"] == "RouteNotFound"
        assert f"VirtualService {s.namespace}/{NAME} not found" in invalid["message"]
    else:
        assert invalid["reason"] == "RouteInvalid"
        assert invalid["message"] == (
            f"VirtualService {s.namespace}/{NAME} has no HTTP route named primary whose "
            f"destinations are exactly the Services {NAME}-stable and {NAME}-canary"
        )
        assert s.route_spec() == before
    assert client.AppsV1Api(api).list_namespaced_deployment(s.namespace).items == []


def test_a_mirror_step_on_a_route_that_mirrors_elsewhere_is_refused_up_front(
    s: Scenario, api: client.ApiClient
) -> None:
    ours = [destination(f"{NAME}-stable", 100), destination(f"{NAME}-canary", 0)]
    body = create_vs(s, ours)
    primary = {**body["spec"]["http"][1], "mirror": {"host": "recorder"}}
    patch = [{"op": "replace", "path": "/spec/http/1", "value": primary}]
    patched: Any = s.custom.patch_namespaced_custom_object(
        *ISTIO, s.namespace, PLURAL, NAME, patch, _content_type="application/json-patch+json"
    )
    s.create("1.0.0", traffic=ROUTED, strategy={"canary": {"steps": STEPS}})
    status = s.wait_status(condition_true("InvalidSpec"), "an InvalidSpec condition")
    invalid = next(c for c in status["conditions"] if c["type"] == "InvalidSpec")
    assert "already mirrors elsewhere" in invalid["message"]
    assert "step 1 (mirror)" in invalid["message"]
    assert s.route_spec() == patched["spec"]
