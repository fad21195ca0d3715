"""How urgent a reconcile is: its place in line for a thread and for the API server's
rate limit, before it runs and once it has decided (reconcile.urgency)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import REQUEST_ANNOTATION, Phase, PromotionStage
from modelrollout.rate_limits import Priority
from modelrollout.reconcile import Urgency, acting, under_way, urgency

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STABLE = {"version": "1", "revision": "r1", "weight": 100, "replicas": 2}
CANARY = {"version": "2", "revision": "r2", "weight": 20, "replicas": 1}
ANALYSIS = {
    "prometheus": {"url": "http://p", "scrapeInterval": "1s"},
    "interval": "10s",
    "metrics": [{"name": "errors", "template": "errorRate", "max": 0.01}],
}


def body(
    version: str = "1", annotations: dict[str, str] | None = None, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "ml", "annotations": annotations or {}},
        "spec": {
            "replicas": 2,
            "model": {"version": version},
            "template": {"spec": {"containers": [{"name": "s", "image": f"s:{version}"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
            "analysis": ANALYSIS,
        },
        "status": status,
    }


REVISION_2 = ModelDeploymentSpec.model_validate(body("2")["spec"]).revision()
REQUESTED = {"modelrollout.io/request": "abort:20261205T115959Z"}
MID_ROLLOUT = {"phase": "Progressing", "stable": STABLE, "canary": CANARY}


@pytest.mark.parametrize(
    ("case", "given", "expected"),
    [
        ("a spec the models refuse", {"spec": {"replicas": "many"}}, Urgency(Priority.ROUTINE)),
        ("a person's request", body("2", REQUESTED, **MID_ROLLOUT), Urgency(Priority.REQUEST)),
        (
            "a rollback handing pods back",
            body("2", phase="RolledBack", stable=STABLE, returning=CANARY),
            Urgency(Priority.ROLLBACK),
        ),
        (
            "a promotion under way",
            body("2", **MID_ROLLOUT, promotionStage="ScaleUp"),
            Urgency(Priority.PROMOTION),
        ),
        ("a measurement due", body("2", **MID_ROLLOUT), Urgency(Priority.ANALYSIS, True)),
        ("a version not rolled out", body("2", stable=STABLE), Urgency(Priority.NEW_ROLLOUT)),
        ("a first deployment", body("1"), Urgency(Priority.NEW_ROLLOUT)),
        (
            "a version rolled back: it stays so until a retry",
            body("2", phase="RolledBack", stable=STABLE, abortedRevision=REVISION_2),
            Urgency(Priority.ROUTINE),
        ),
        (
            "serving, nothing due",
            body("1", phase="Healthy", stable=STABLE),
            Urgency(Priority.ROUTINE),
        ),
    ],
)
def test_urgency_before_a_reconcile(case: str, given: dict[str, Any], expected: Urgency) -> None:
    assert urgency(given, NOW) == expected, case


def status(**fields: Any) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate(fields)


@pytest.mark.parametrize(
    ("case", "before", "previous", "decided", "expected"),
    [
        (
            "an analysis that ends in a rollback",
            Priority.ANALYSIS,
            status(**MID_ROLLOUT),
            status(phase="RolledBack", stable=STABLE),
            Priority.ROLLBACK,
        ),
        (
            "pods handed back",
            Priority.ROUTINE,
            status(phase="RolledBack", stable=STABLE, returning=CANARY),
            status(phase="RolledBack", stable=STABLE, returning=CANARY),
            Priority.ROLLBACK,
        ),
        (
            "a promotion's traffic move",
            Priority.ANALYSIS,
            status(**MID_ROLLOUT),
            status(**MID_ROLLOUT, promotionStage=PromotionStage.ALL_TO_CANARY),
            Priority.PROMOTION,
        ),
        (
            "a person's abort stays first",
            Priority.REQUEST,
            status(**MID_ROLLOUT),
            status(phase="RolledBack", stable=STABLE),
            Priority.REQUEST,
        ),
        (
            "a step like any other",
            Priority.ROUTINE,
            status(**MID_ROLLOUT),
            status(**{**MID_ROLLOUT, "canary": {**CANARY, "weight": 50}}),
            Priority.ROUTINE,
        ),
        (
            "still rolled back: nothing urgent",
            Priority.ROUTINE,
            status(phase="RolledBack", stable=STABLE),
            status(phase=Phase.ROLLED_BACK, stable=STABLE),
            Priority.ROUTINE,
        ),
    ],
)
def test_acting_on_a_decision_goes_ahead_for_a_rollback_or_a_promotion(
    case: str,
    before: Priority,
    previous: ModelDeploymentStatus,
    decided: ModelDeploymentStatus,
    expected: Priority,
) -> None:
    assert acting(before, previous, decided) == expected, case


@pytest.mark.parametrize(
    ("case", "given", "expected"),
    [
        ("serving, nothing asked", body("1", phase="Healthy", stable=STABLE), False),
        ("a version not rolled out yet", body("2", stable=STABLE), False),
        ("a person's request", body("2", REQUESTED, phase="Healthy", stable=STABLE), True),
        (
            "a request already run",
            body("1", REQUESTED, stable=STABLE, handledRequest=REQUESTED[REQUEST_ANNOTATION]),
            False,
        ),
        (
            "a request already refused",
            body("1", REQUESTED, stable=STABLE, refusedRequest=REQUESTED[REQUEST_ANNOTATION]),
            False,
        ),
        ("a canary", body("2", **MID_ROLLOUT), True),
        ("pods handed back", body("2", stable=STABLE, returning=CANARY), True),
        ("a promotion", body("2", stable=STABLE, promotionStage="ScaleUp"), True),
        ("a status that is not an object", {"status": "broken"}, True),
        ("no status at all", {"metadata": {}}, False),
    ],
)
def test_what_is_under_way_goes_first_when_a_standby_takes_over(
    case: str, given: dict[str, Any], expected: bool
) -> None:
    assert under_way(given) is expected, case
