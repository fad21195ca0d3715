"""decide_and_act() and carry_out(): observe -> decide -> (record) -> act, with fake adapters
recording what they do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_adapters import Cluster, FakeProvider, FakeWorkloads, adapters
from kubernetes.client.exceptions import ApiException

from modelrollout.api.spec import Analysis, ModelDeploymentSpec
from modelrollout.api.vocabulary import ConditionType, Outcome, Phase, Reason
from modelrollout.engine.conditions import condition
from modelrollout.engine.model import RevisionObservation
from modelrollout.rate_limits import Priority
from modelrollout.reconcile import (
    Adapters,
    InvalidSpec,
    Result,
    Urgency,
    carry_out,
    reconcile,
    release_route,
    urgency,
)
from modelrollout.routing.router import RouteError

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def decide_and_act(adapters: Adapters, body: dict[str, Any], now: datetime) -> Result:
    """A decision, and (as the handler does once it is recorded) its actions: the
    acting failure's result if one failed."""
    result = reconcile(adapters, body, now)
    return carry_out(result, now) or result


def body(version: str = "1", status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "ml", "uid": "u", "generation": 3},
        "spec": {
            "replicas": 2,
            "model": {"version": version},
            "template": {"spec": {"containers": [{"name": "s", "image": f"s:{version}"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
            **spec,
        },
        "status": status or {},
    }


def test_a_first_deployment_is_checked_observed_decided_and_acted_in_order() -> None:
    cluster = Cluster()
    result = decide_and_act(adapters(cluster), body(), T0)
    revision = ModelDeploymentSpec.model_validate(body()["spec"]).revision()
    assert cluster.calls == [
        ("router", "ml", "m"),
        ("check",),
        ("observe",),
        ("apply", revision, 2),
        ("route", 0),  # no canary weight: the route before the Services
        ("services", revision, revision),
    ]
    assert result.status.phase == Phase.PROGRESSING
    assert result.status.observed_generation == 3
    assert [e.reason for e in result.events] == [Reason.FIRST_DEPLOYMENT]


def test_a_rollout_measures_when_due_and_sets_the_canary_weight() -> None:
    cluster = Cluster()
    status = decide_and_act(adapters(cluster), body(), T0).status
    status = decide_and_act(adapters(cluster), body(status=status.wire()), T0).status
    assert status.phase == Phase.HEALTHY
    analysis = {
        "prometheus": {"url": "http://p", "scrapeInterval": "1s"},
        "interval": "10s",
        "metrics": [{"name": "errors", "template": "errorRate", "max": 0.01}],
    }
    new = body("2", status=status.wire(), analysis=analysis)
    cluster.calls.clear()
    status = decide_and_act(adapters(cluster), new, T0 + timedelta(seconds=1)).status
    assert ("route", 0) in cluster.calls  # the canary's pods are not ready yet
    for i in range(2, 4):
        new["status"] = status.wire()
        status = decide_and_act(adapters(cluster), new, T0 + timedelta(seconds=i)).status
    assert status.canary is not None
    assert status.canary.weight == 20
    assert ("route", 20) in cluster.calls
    assert not any(call[0] == "query" for call in cluster.calls), "nothing is due yet"
    new["status"] = status.wire()
    due = T0 + timedelta(seconds=20)
    assert urgency(new, T0 + timedelta(seconds=4)) == Urgency(Priority.ROUTINE)
    assert urgency(new, due) == Urgency(Priority.ANALYSIS, measures=True)
    # A person's request waits for no query: decided without measuring.
    asked = {
        **new,
        "metadata": {
            **new["metadata"],
            "annotations": {"modelrollout.io/request": "pause:20261124T120000Z"},
        },
    }
    assert urgency(asked, due) == Urgency(Priority.REQUEST)
    unmeasured = reconcile(adapters(cluster), new, due, measure=False)
    assert unmeasured.measurements is None
    assert not any(call[0] == "query" for call in cluster.calls)
    result = decide_and_act(adapters(cluster), new, due)
    assert ("query", "errors@2") in cluster.calls
    assert result.measurements is not None
    assert [m.outcome for m in result.measurements] == [Outcome.SUCCESSFUL]


@pytest.mark.parametrize(
    ("cluster", "reason"),
    [
        (Cluster(route_error=RouteError(Reason.ROUTE_NOT_FOUND, "no route")), "RouteNotFound"),
        (Cluster(supports=frozenset()), "InvalidSpec"),
    ],
)
def test_a_route_that_cannot_carry_the_rollout_changes_nothing(
    cluster: Cluster, reason: str
) -> None:
    result = decide_and_act(adapters(cluster), body(), T0)
    assert not any(call[0] in ("apply", "scale", "services", "route") for call in cluster.calls)
    invalid = condition(result.status.conditions, ConditionType.INVALID_SPEC)
    assert invalid is not None
    assert (invalid.status, invalid.reason) == ("True", reason)
    assert [e.reason for e in result.events] == [reason]


def test_a_missing_feature_is_named_with_the_router() -> None:
    result = decide_and_act(adapters(Cluster(supports=frozenset())), body(), T0)
    assert result.status.message == (
        "a canary needs weights from its router, which fake route does not support"
    )


def test_a_step_the_router_cannot_carry_is_named_with_the_router() -> None:
    steps = [
        {"setWeight": 0},
        {"mirror": {"percent": 100}},
        {"headerRoute": {"match": [{"header": {"name": "X-Canary", "value": "1"}}]}},
        {"mirror": {"percent": 0}},
    ]
    cluster = Cluster()
    result = decide_and_act(adapters(cluster), body(strategy={"canary": {"steps": steps}}), T0)
    assert result.status.message == (
        "step 2 (mirror) needs mirror; step 3 (headerRoute) needs headerRoute from its "
        "router, which fake route does not support"
    )
    invalid = condition(result.status.conditions, ConditionType.INVALID_SPEC)
    assert invalid is not None
    assert invalid.status == "True"
    assert not any(call[0] in ("apply", "scale", "services", "route") for call in cluster.calls)


def test_unusable_credentials_are_invalid_spec_and_touch_nothing() -> None:
    cluster = Cluster()
    status = decide_and_act(adapters(cluster), body(), T0).status
    analysis = {
        "prometheus": {"url": "http://p"},
        "metrics": [{"name": "e", "query": "x", "max": 1}],
    }

    def refuse(analysis: Analysis, namespace: str) -> FakeProvider:
        raise InvalidSpec(Reason.INVALID_SPEC, "Secret ml/creds: it has neither `token` nor ...")

    broken = Adapters(adapters(cluster).workloads, adapters(cluster).router, refuse)
    rollout = body("2", status=status.wire(), analysis=analysis)
    rollout["status"]["canary"] = {"version": "2", "revision": "x", "weight": 10}
    cluster.calls.clear()
    result = decide_and_act(broken, rollout, T0 + timedelta(minutes=5))
    assert not any(call[0] in ("apply", "scale", "services", "route") for call in cluster.calls)
    assert "Secret ml/creds" in result.status.message


class Refusing(FakeWorkloads):
    """The API server refuses scaling (a webhook, a quota, an outage)."""

    def scale_revision(
        self, revision: str, replicas: int, observed: RevisionObservation | None
    ) -> None:
        raise ApiException(status=500, reason="Internal Server Error")


def test_deciding_acts_on_nothing_until_the_decision_is_carried_out() -> None:
    cluster = Cluster()
    result = reconcile(adapters(cluster), body(), T0)
    assert not any(call[0] in ("apply", "scale", "services", "route") for call in cluster.calls)
    assert result.plan is not None
    assert carry_out(result, T0) is None
    assert cluster.calls[-1][:1] == ("services",)


def test_a_failing_write_is_recorded_as_reconcile_error_on_the_decided_status() -> None:
    cluster = Cluster()
    healthy = decide_and_act(adapters(cluster), body(), T0).status
    healthy = decide_and_act(adapters(cluster), body(status=healthy.wire()), T0).status
    refusing = Adapters(
        lambda *_: Refusing(cluster), adapters(cluster).router, adapters(cluster).provider
    )
    rollout = body("2", status=healthy.wire())
    result = decide_and_act(refusing, rollout, T0 + timedelta(seconds=1))
    assert result.failed
    # The decision was recorded before acting; the next reconcile re-asserts it.
    assert result.status.canary is not None
    error = condition(result.status.conditions, ConditionType.RECONCILE_ERROR)
    assert error is not None
    assert error.status == "True"
    assert error.message.startswith("sizing revision ")
    assert error.message.endswith(": the API server answered 500 Internal Server Error")
    assert [e.reason for e in result.events] == ["ReconcileFailed"]
    again = decide_and_act(refusing, {**rollout, "status": result.status.wire()}, T0)
    assert again.events == [], "the same failure is evented once"
    fixed = decide_and_act(adapters(cluster), {**rollout, "status": again.status.wire()}, T0)
    cleared = condition(fixed.status.conditions, ConditionType.RECONCILE_ERROR)
    assert cleared is not None
    assert (cleared.status, cleared.reason) == ("False", "Reconciled")
    assert fixed.status.canary is not None


def test_a_provider_bug_is_an_error_measurement_not_a_crash() -> None:
    class Broken(FakeProvider):
        def value(self, query: str) -> float | None:
            raise KeyError("data")

    cluster = Cluster()
    analysis = {
        "prometheus": {"url": "http://p", "scrapeInterval": "1s"},
        "interval": "10s",
        "metrics": [{"name": "errors", "template": "errorRate", "max": 0.01}],
    }
    status = {
        "phase": "Progressing",
        "stable": {"version": "1", "revision": "a", "weight": 90, "replicas": 2},
        "canary": {"version": "2", "revision": "b", "weight": 10, "replicas": 1},
        "currentStep": 1,
        "weightSetAt": T0.isoformat(),
        "history": [],
    }
    broken = Adapters(
        adapters(cluster).workloads, adapters(cluster).router, lambda *_: Broken(cluster)
    )
    result = decide_and_act(
        broken, body("2", status=status, analysis=analysis), T0 + timedelta(minutes=1)
    )
    assert not result.failed
    assert result.measurements is not None
    assert [m.outcome for m in result.measurements] == [Outcome.ERROR]
    assert "failed unexpectedly: KeyError" in result.measurements[0].message


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ({"spec": {"containers": "5"}}, "spec.template.spec.containers must be a non-empty list"),
        ({"spec": {"containers": []}}, "spec.template.spec.containers must be a non-empty list"),
        ({"spec": "x"}, "spec.template.spec.containers must be a non-empty list"),
        (
            {"spec": {"containers": [{"image": "i"}]}},
            "containers[0] must be a container with a name",
        ),
        ({"spec": {"containers": [7]}}, "containers[0] must be a container with a name"),
        (
            {"spec": {"containers": [{"name": "s", "env": {"A": "1"}}]}},
            "containers[0].env must be a list",
        ),
        (
            {"metadata": {"labels": ["a"]}, "spec": {"containers": [{"name": "s"}]}},
            "spec.template.metadata must be a map",
        ),
        (  # its record for undo would pass the 256 KiB of annotations Kubernetes holds
            {"spec": {"containers": [{"name": "s", "args": ["x" * 200_000]}]}},
            "spec.template is too large: its record for undo takes 200",
        ),
    ],
)
def test_a_pod_template_that_cannot_become_a_deployment_is_invalid_and_touches_nothing(
    template: dict[str, Any], problem: str
) -> None:
    """The CRD keeps the template free-form, so the API server accepts these; the operator
    says what is wrong instead of failing while rendering the Deployment."""
    cluster = Cluster()
    result = decide_and_act(adapters(cluster), body(template=template), T0)
    invalid = condition(result.status.conditions, ConditionType.INVALID_SPEC)
    assert invalid is not None
    assert invalid.status == "True"
    assert problem in invalid.message
    assert not any(call[0] in ("apply", "scale", "services", "route") for call in cluster.calls)


def test_the_api_servers_own_words_are_in_a_reconcile_error() -> None:
    class Unprocessable(FakeWorkloads):
        def apply_revision(self, *_: Any) -> None:
            exc = ApiException(status=422, reason="Unprocessable Entity")
            exc.body = '{"message": "Deployment.apps \\"m-1\\" is invalid: spec.template..."}'
            raise exc

    cluster = Cluster()
    refusing = Adapters(
        lambda *_: Unprocessable(cluster), adapters(cluster).router, adapters(cluster).provider
    )
    result = decide_and_act(refusing, body(), T0)
    error = condition(result.status.conditions, ConditionType.RECONCILE_ERROR)
    assert error is not None
    assert error.message.endswith(
        ': the API server answered 422 Unprocessable Entity: Deployment.apps "m-1" is invalid: '
        "spec.template..."
    )


def test_a_route_that_moved_under_a_write_is_not_an_error_and_not_written_again() -> None:
    cluster = Cluster(route_conflicts=1)
    decided = reconcile(adapters(cluster), body(), T0)
    after = carry_out(decided, T0)
    assert after is not None
    assert after.conflict
    assert not after.failed, "a conflict is no ReconcileError: the next decision is made anew"
    assert cluster.calls.count(("route", 0)) == 1


def test_a_deleted_model_deployment_takes_what_it_added_off_the_route() -> None:
    cluster = Cluster()
    said = release_route(adapters(cluster), body())
    assert cluster.calls[-2:] == [("check",), ("route", 0)]
    assert said == "fake route released (canary weight 0%)"


def test_releasing_a_route_that_moved_reads_it_again() -> None:
    cluster = Cluster(route_conflicts=2)
    assert release_route(adapters(cluster), body()).endswith("released (canary weight 0%)")
    assert cluster.calls.count(("route", 0)) == 3
    cluster = Cluster(route_conflicts=3)
    assert release_route(adapters(cluster), body()) == (
        "route not released: it kept changing under us"
    )


def test_nothing_to_release_without_a_usable_route_or_spec() -> None:
    cluster = Cluster(route_error=RouteError(Reason.ROUTE_NOT_FOUND, "HTTPRoute ml/r not found"))
    assert release_route(adapters(cluster), body()) == (
        "nothing to release: HTTPRoute ml/r not found"
    )
    assert release_route(adapters(Cluster()), body(replicas="many")).startswith(
        "nothing to release: the spec was never valid"
    )


def test_a_name_our_services_cannot_carry_is_invalid_and_touches_nothing() -> None:
    cluster = Cluster()
    named = body()
    named["metadata"]["name"] = "fraud.v2"
    result = reconcile(adapters(cluster), named, T0)
    assert result.invalid
    assert "the Services <name>-stable and <name>-canary" in result.status.message
    assert cluster.calls == []


def test_a_name_held_by_an_object_not_ours_is_invalid_and_touches_nothing() -> None:
    said = "Service ml/iris-stable already exists and is not this ModelDeployment's (...)"
    cluster = Cluster(foreign=said)
    result = decide_and_act(adapters(cluster), body(), T0)
    assert result.invalid
    assert result.status.message == said
    assert not any(call[0] in ("apply", "scale", "services", "route") for call in cluster.calls)


def test_the_scale_subresource_reads_every_live_revisions_pods() -> None:
    """status.replicas and status.selector: what `kubectl scale`, an HPA or KEDA read."""
    cluster = Cluster()
    status = decide_and_act(adapters(cluster), body(), T0).status
    assert (status.replicas, status.selector) == (2, "modelrollout.io/name=m")
    status = decide_and_act(adapters(cluster), body(status=status.wire()), T0).status
    rolling = decide_and_act(adapters(cluster), body("2", status=status.wire()), T0).status
    assert rolling.canary is not None
    assert rolling.stable is not None
    assert rolling.replicas == rolling.stable.replicas + rolling.canary.replicas
