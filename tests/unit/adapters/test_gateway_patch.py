"""The HTTPRoute patch: applied to routes as the API server stores them (defaults filled
in), it carries the state, touches nothing else, and leaves no trace once the state ends."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from modelrollout.api.route_parts import HeaderMatch
from modelrollout.engine.model import RouteState
from modelrollout.routing.gateway_patch import (
    GRPC_ROUTE,
    Backends,
    RouteType,
    empty_filters,
    find_backend_refs,
    route_patch,
)

STABLE, CANARY = "m-stable", "m-canary"
OURS = Backends(STABLE, CANARY)
X_CANARY = HeaderMatch(name="X-Canary", value="true")
COOKIE = HeaderMatch(name="Cookie", type="RegularExpression", value="^(.*;[ \\t]*)?arm=b$")


def ref(name: str, weight: int = 1, **extra: Any) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": 80, "weight": weight, **extra}


def route(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "ml"}, "spec": {"rules": list(rules)}}


def weighted(**extra: Any) -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [ref(STABLE, 100), ref(CANARY, 0)],
        **extra,
    }


def carried(r: dict[str, Any], state: RouteState, *kind: RouteType) -> dict[str, Any]:
    """Apply the patch; the result must need no further patch (how writes are verified)."""
    ops = route_patch(r, OURS, state, *kind)
    out: dict[str, Any] = jsonpatch.apply_patch(r, ops)
    assert route_patch(out, OURS, state, *kind) == []
    return out


def test_refs_are_found_only_in_rules_that_reference_both_services() -> None:
    r = route(
        {"backendRefs": [{"name": "other", "port": 80}]},
        {"backendRefs": [{"name": STABLE, "port": 80, "weight": 100}, {"name": CANARY}]},
        {"backendRefs": [{"name": STABLE, "port": 80}]},
    )
    refs = find_backend_refs(r, OURS)
    assert [(x.rule, x.index, x.backend, x.weight) for x in refs] == [
        (1, 0, STABLE, 100),
        (1, 1, CANARY, 1),  # Gateway API's default weight
    ]


def test_refs_to_other_kinds_or_namespaces_do_not_count() -> None:
    r = route(
        {
            "backendRefs": [
                {"name": STABLE, "port": 80},
                {"name": CANARY, "kind": "ServiceImport", "group": "multicluster.x-k8s.io"},
            ]
        },
        {"backendRefs": [{"name": STABLE}, {"name": CANARY, "namespace": "elsewhere"}]},
    )
    assert find_backend_refs(r, OURS) == []


def test_weights_alone_are_written_guarded_by_the_rules_as_read() -> None:
    user = route(weighted())
    ops = route_patch(user, OURS, RouteState(25))
    assert ops == [
        {"op": "test", "path": "/spec/rules", "value": user["spec"]["rules"]},
        {"op": "add", "path": "/spec/rules/0/backendRefs/0/weight", "value": 75},
        {"op": "add", "path": "/spec/rules/0/backendRefs/1/weight", "value": 25},
    ]
    assert route_patch(user, OURS, RouteState(0)) == []


def test_a_mirror_is_a_request_mirror_filter_with_percent_and_leaves_no_trace() -> None:
    user = route(weighted())
    mirrored = carried(user, RouteState(0, mirror=100))
    assert mirrored["spec"]["rules"][0]["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": CANARY, "port": 80},
                "percent": 100,
            },
        }
    ]
    assert mirrored["spec"]["rules"][0]["backendRefs"] == user["spec"]["rules"][0]["backendRefs"]
    halved = carried(mirrored, RouteState(0, mirror=50))
    assert halved["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] == 50
    assert carried(halved, RouteState(0)) == user  # the filters list goes with it


def test_the_users_own_filters_stay_in_place() -> None:
    header = {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {"set": [{"name": "a", "value": "b"}]},
    }
    user = route(weighted(filters=[header]))
    mirrored = carried(user, RouteState(0, mirror=10))
    assert mirrored["spec"]["rules"][0]["filters"][0] == header
    assert len(mirrored["spec"]["rules"][0]["filters"]) == 2
    assert carried(mirrored, RouteState(0)) == user


def test_a_header_route_is_a_named_rule_repeating_the_users_matches_with_headers() -> None:
    matches = [
        {"path": {"type": "PathPrefix", "value": "/v1"}},
        {"path": {"type": "Exact", "value": "/predict"}, "method": "POST"},
    ]
    user = route({"name": "other", "backendRefs": [ref("other")]}, weighted(matches=matches))
    routed = carried(user, RouteState(0, header_route=(X_CANARY, COOKIE)))
    rules = routed["spec"]["rules"]
    assert rules[:2] == user["spec"]["rules"]
    headers = [
        {"name": "X-Canary", "type": "Exact", "value": "true"},
        {"name": "Cookie", "type": "RegularExpression", "value": COOKIE.value},
    ]
    assert rules[2] == {
        "name": "modelrollout-m-canary-0",
        "matches": [{**m, "headers": headers} for m in matches],
        "backendRefs": [ref(CANARY, 1)],
    }
    replaced = carried(routed, RouteState(0, header_route=(X_CANARY,)))
    assert replaced["spec"]["rules"][2]["matches"][0]["headers"] == headers[:1]
    assert carried(replaced, RouteState(0)) == user


def test_a_grpc_header_rule_repeats_method_matches_and_matches_every_method_without() -> None:
    """A GRPCRoute rule without matches matches every method (no path); it has no
    timeouts to repeat. Weights and the mirror are written as on an HTTPRoute."""
    by_method = {"method": {"service": "inference.GRPCInferenceService", "method": "ModelInfer"}}
    filters = [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": []}}]
    backends = [ref(STABLE, 100), ref(CANARY, 0)]
    user = route(
        {"matches": [by_method], "filters": filters, "backendRefs": backends},
        {"backendRefs": backends},
    )
    state = RouteState(10, mirror=50, header_route=(X_CANARY,))
    routed = carried(user, state, GRPC_ROUTE)
    rules = routed["spec"]["rules"]
    header = [{"name": "X-Canary", "type": "Exact", "value": "true"}]
    assert rules[2] == {
        "name": "modelrollout-m-canary-0",
        "matches": [{**by_method, "headers": header}],
        "filters": filters,
        "backendRefs": [ref(CANARY, 1)],
    }
    assert rules[3]["matches"] == [{"headers": header}], "every method, with our header"
    assert [r["backendRefs"][1]["weight"] for r in rules[:2]] == [10, 10]
    assert rules[0]["filters"][1]["requestMirror"]["percent"] == 50
    assert carried(routed, RouteState(0), GRPC_ROUTE) == user


def test_mirror_weights_and_header_route_together_then_all_gone() -> None:
    timeouts = {"request": "10s"}
    user = route(weighted(timeouts=timeouts), weighted())
    state = RouteState(20, mirror=30, header_route=(X_CANARY,))
    both = carried(user, state)
    rules = both["spec"]["rules"]
    assert [r.get("name") for r in rules] == [
        None,
        None,
        "modelrollout-m-canary-0",
        "modelrollout-m-canary-1",
    ]
    assert rules[2]["timeouts"] == timeouts  # the header rule behaves like the user's
    assert "filters" not in rules[2]  # the mirror is not repeated on it
    assert all(r["filters"][0]["requestMirror"]["percent"] == 30 for r in rules[:2])
    back = carried(both, RouteState(0))
    assert back == user


def test_a_header_rule_of_another_model_is_left_alone() -> None:
    theirs = {"name": "modelrollout-other-canary-0", "backendRefs": [ref("other-canary")]}
    user = route(weighted(), theirs)
    routed = carried(user, RouteState(0, header_route=(X_CANARY,)))
    assert routed["spec"]["rules"][1] == theirs
    assert carried(routed, RouteState(0)) == user


BOTH = RouteState(0, mirror=100, header_route=(X_CANARY,))


def test_a_stale_read_fails_the_patch_instead_of_adding_a_second_copy() -> None:
    """Our last write not yet in the watch-fed cache: the patch computed on the cached
    route would add the mirror and the header rule again; it must fail as a whole."""
    cached = route(weighted())
    live = carried(cached, BOTH)
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(live, route_patch(cached, OURS, BOTH))


def test_an_edit_since_the_read_fails_the_patch() -> None:
    read = carried(route(weighted()), BOTH)
    edited = copy.deepcopy(read)
    edited["spec"]["rules"][0]["filters"].insert(0, {"type": "CORS", "cors": {}})
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(edited, route_patch(read, OURS, RouteState(0)))


@pytest.mark.parametrize(
    ("rule", "seen"),
    [(weighted(), ()), (weighted(filters=[]), (0,))],
    ids=["no filters key", "filters: [] by its owner"],
)
def test_a_mirror_leaves_the_owners_filters_exactly_as_they_were(
    rule: dict[str, Any], seen: tuple[int, ...]
) -> None:
    owners = route(rule, {"backendRefs": [ref("other")], "filters": []})
    assert empty_filters(owners, OURS) == seen, "only weighted rules count"
    mirrored = carried(owners, RouteState(0, mirror=50, empty_filters=seen))
    assert empty_filters(mirrored, OURS) is None, "the owner's shape is hidden now"
    after = carried(mirrored, RouteState(0, empty_filters=seen))
    assert after == owners


def test_without_the_memory_an_empty_list_would_go_with_our_mirror() -> None:
    """Why the status keeps what it saw: the route alone cannot tell the two apart."""
    owners = route(weighted(filters=[]))
    mirrored = carried(owners, RouteState(0, mirror=50, empty_filters=(0,)))
    assert mirrored == carried(route(weighted()), RouteState(0, mirror=50))
    assert "filters" not in carried(mirrored, RouteState(0))["spec"]["rules"][0]


POOLS = Backends(STABLE, CANARY, "inference.networking.k8s.io", "InferencePool", service_port=8000)


def pool_ref(name: str, weight: int = 1) -> dict[str, Any]:
    return {
        "group": "inference.networking.k8s.io",
        "kind": "InferencePool",
        "name": name,
        "weight": weight,
    }


def test_pool_backends_weigh_the_pools_and_mirror_to_the_canary_service() -> None:
    """Beside pools, the weights are the pools' backendRefs' (a Service of the same name
    in the route is not ours to weigh); a mirror goes to the canary Service at its port,
    a header route to the canary pool; the end of the state leaves the route as it was."""
    user = route(
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
            "backendRefs": [pool_ref(STABLE, 100), pool_ref(CANARY, 0)],
        },
        {"backendRefs": [ref(STABLE, 100), ref(CANARY, 0)]},  # Services: not ours here
    )
    assert [(x.rule, x.index) for x in find_backend_refs(user, POOLS)] == [(0, 0), (0, 1)]
    assert [(x.rule, x.index) for x in find_backend_refs(user, OURS)] == [(1, 0), (1, 1)]
    state = RouteState(10, mirror=50, header_route=(X_CANARY,))
    out: dict[str, Any] = jsonpatch.apply_patch(user, route_patch(user, POOLS, state))
    assert route_patch(out, POOLS, state) == [], "the write verifies"
    weighted, services, header = out["spec"]["rules"]
    assert [r["weight"] for r in weighted["backendRefs"]] == [90, 10]
    assert services == user["spec"]["rules"][1], "the Services' rule is untouched"
    assert weighted["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": CANARY, "port": 8000},
                "percent": 50,
            },
        }
    ]
    assert header["backendRefs"] == [{**pool_ref(CANARY), "weight": 1}]
    assert header["matches"][0]["headers"] == [
        {"name": "X-Canary", "type": "Exact", "value": "true"}
    ]
    released = jsonpatch.apply_patch(out, route_patch(out, POOLS, RouteState(0)))
    assert released == user, "nothing of ours is left behind"


def test_a_route_to_services_carries_nothing_for_pools() -> None:
    """A route whose rules name our Services, not our pools, has no weighted rule for a
    ModelDeployment that routes through pools (the router says InvalidSpec)."""
    user = route(weighted())
    assert find_backend_refs(user, POOLS) == []
    assert route_patch(user, POOLS, RouteState(30)) == []
