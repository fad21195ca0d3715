"""The HTTP routes an Istio VirtualService needs for a RouteState: ours changed, the
owner's untouched, and the VirtualService exactly as written once the state is back to
stable alone."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from modelrollout.api.route_parts import HeaderMatch
from modelrollout.engine.model import RouteState
from modelrollout.routing.istio_patch import (
    IstioServices,
    http_patch,
    owners_mirror,
    weighted_routes,
)

OURS = IstioServices("ml", "m-stable", "m-canary")
X_CANARY = HeaderMatch(name="X-Canary", value="true")
COOKIE = HeaderMatch(name="Cookie", type="RegularExpression", value="^(.*;[ \\t]*)?arm=b$")


def dest(host: str, weight: int | None = None, port: int = 80) -> dict[str, Any]:
    item: dict[str, Any] = {"destination": {"host": host, "port": {"number": port}}}
    if weight is not None:
        item["weight"] = weight
    return item


def weighted(**extra: Any) -> dict[str, Any]:
    return {
        "match": [{"uri": {"prefix": "/v1"}}],
        "route": [dest("m-stable", 100), dest("m-canary", 0)],
        **extra,
    }


def vs(*http: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "ml"},
        "spec": {"hosts": ["m.example"], "gateways": ["mesh"], "http": list(http)},
    }


def carried(v: dict[str, Any], state: RouteState, ours: IstioServices = OURS) -> dict[str, Any]:
    """Apply the patch; the result must need no further patch (how writes are verified)."""
    out: dict[str, Any] = jsonpatch.apply_patch(v, http_patch(v, ours, state))
    assert http_patch(out, ours, state) == []
    return out


@pytest.mark.parametrize(
    ("host", "ours"),
    [
        ("m-canary", True),
        ("m-canary.ml", True),
        ("m-canary.ml.svc", True),
        ("m-canary.ml.svc.cluster.local", True),
        ("m-canary.ml.svc.corp.example", True),  # another cluster domain
        ("m-canary.other", False),  # the same name in another namespace
        ("m-canary.other.svc.cluster.local", False),
        ("m-canary-2", False),
        ("m-canary.example.com", False),
    ],
)
def test_a_destination_is_ours_by_any_name_of_our_service(host: str, ours: bool) -> None:
    route = {"route": [dest("m-stable", 100), dest(host, 0)]}
    assert weighted_routes(vs(route), OURS) == ([0] if ours else [])


def test_only_routes_to_exactly_our_two_services_are_split() -> None:
    three = {"route": [dest("m-stable", 50), dest("m-canary", 0), dest("legacy", 50)]}
    one = {"route": [dest("m-stable")]}
    assert weighted_routes(vs(three, one, weighted()), OURS) == [2]
    named = IstioServices("ml", "m-stable", "m-canary", http_route="primary")
    v = vs(weighted(name="shadow"), weighted(name="primary"))
    assert weighted_routes(v, named) == [1]
    assert "named primary" in named.describe()


def test_weights_alone_replace_the_list_guarded_by_the_list_as_read() -> None:
    user = vs({"name": "health", "route": [dest("health")]}, weighted())
    ops = http_patch(user, OURS, RouteState(30))
    assert ops[0] == {"op": "test", "path": "/spec/http", "value": user["spec"]["http"]}
    assert [op["op"] for op in ops] == ["test", "replace"]
    routed = carried(user, RouteState(30))
    assert routed["spec"]["http"][0] == user["spec"]["http"][0]
    assert [i["weight"] for i in routed["spec"]["http"][1]["route"]] == [70, 30]
    assert carried(routed, RouteState(0)) == user
    assert http_patch(user, OURS, RouteState(0)) == [], "already carried: no write"


def test_an_absent_weight_is_zero_and_stays_absent() -> None:
    user = vs({"route": [dest("m-stable", 100), dest("m-canary")]})
    assert http_patch(user, OURS, RouteState(0)) == []


def test_a_mirror_goes_to_the_canary_as_the_route_names_it_and_leaves_no_trace() -> None:
    user = vs(
        weighted(route=[dest("m-stable", 100), dest("m-canary.ml.svc.cluster.local", 0, 8080)])
    )
    routed = carried(user, RouteState(0, mirror=25))
    entry = routed["spec"]["http"][0]
    assert entry["mirror"] == {"host": "m-canary.ml.svc.cluster.local", "port": {"number": 8080}}
    assert entry["mirrorPercentage"] == {"value": 25}
    assert carried(routed, RouteState(0, mirror=100))["spec"]["http"][0]["mirrorPercentage"] == {
        "value": 100
    }
    assert carried(routed, RouteState(10)) == carried(user, RouteState(10))
    assert carried(routed, RouteState(0)) == user


def test_a_route_that_mirrors_elsewhere_cannot_hold_ours() -> None:
    theirs = weighted(name="primary", mirror={"host": "recorder"})
    assert owners_mirror(vs(theirs), OURS) == "primary"
    listed = weighted(mirrors=[{"destination": {"host": "recorder"}}])
    assert owners_mirror(vs(listed), OURS) == "#0"
    assert owners_mirror(carried(vs(weighted()), RouteState(0, mirror=5)), OURS) is None


def test_a_header_route_goes_ahead_of_its_weighted_route_with_its_settings() -> None:
    settings = {
        "timeout": "30s",
        "retries": {"attempts": 2},
        "headers": {"request": {"set": {"x-team": "risk"}}},
    }
    matches = [
        {"uri": {"prefix": "/v1"}, "headers": {"x-tenant": {"exact": "a"}}},
        {"uri": {"exact": "/predict"}, "method": {"exact": "POST"}},
    ]
    first = weighted(name="primary", match=matches, **settings)
    second = {"route": [dest("m-stable", 100), dest("m-canary", 0)]}  # no match: every request
    user = vs({"name": "health", "route": [dest("health")]}, first, second)
    routed = carried(user, RouteState(5, header_route=(X_CANARY, COOKIE)))
    http = routed["spec"]["http"]
    assert [e.get("name") for e in http] == [
        "health",
        "modelrollout-m-canary-0",
        "primary",
        "modelrollout-m-canary-1",
        None,
    ]
    ours = {"x-canary": {"exact": "true"}, "cookie": {"regex": COOKIE.value}}
    assert http[1] == {
        "name": "modelrollout-m-canary-0",
        "match": [{**m, "headers": {**m.get("headers", {}), **ours}} for m in matches],
        "route": [dest("m-canary")],
        **settings,
    }
    assert http[3]["match"] == [{"headers": ours}]
    assert [i["weight"] for i in http[2]["route"]] == [95, 5]
    assert "mirror" not in http[1], "the mirror is not repeated on a header route"
    fewer = carried(routed, RouteState(5, header_route=(X_CANARY,)))
    assert fewer["spec"]["http"][1]["match"][1]["headers"] == {"x-canary": {"exact": "true"}}
    assert carried(routed, RouteState(0)) == user


def test_another_models_header_route_is_left_alone() -> None:
    theirs = {"name": "modelrollout-other-canary-0", "route": [dest("other-canary")]}
    user = vs(theirs, weighted())
    routed = carried(user, RouteState(0, header_route=(X_CANARY,)))
    assert routed["spec"]["http"][0] == theirs
    assert carried(routed, RouteState(0)) == user


def test_a_stale_read_fails_the_patch_instead_of_adding_a_second_copy() -> None:
    user = vs(weighted())
    ops = http_patch(user, OURS, RouteState(0, header_route=(X_CANARY,)))
    applied = jsonpatch.apply_patch(user, ops)
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(applied, ops)
    edited = copy.deepcopy(user)
    edited["spec"]["http"][0]["timeout"] = "5s"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(edited, ops)
