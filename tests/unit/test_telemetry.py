"""The operator's metrics follow the status it records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from modelrollout.api.status import HistoryEntry, Measurement, ModelDeploymentStatus, RevisionStatus
from modelrollout.api.vocabulary import Outcome, Phase
from modelrollout.handlers import telemetry

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def value(series: str, /, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(series, labels)


def test_phase_weight_measurements_and_finished_rollouts() -> None:
    old = ModelDeploymentStatus(phase=Phase.HEALTHY)
    rolling = ModelDeploymentStatus(
        phase=Phase.PROGRESSING, canary=RevisionStatus(version="2", revision="b", weight=25)
    )
    m = Measurement(metric="error-rate", outcome=Outcome.FAILED, value=0.3, max=0.01, at=NOW)
    telemetry.record("ml", "t1", old, rolling, (m,))
    assert value("modelrollout_phase", namespace="ml", name="t1", phase="Progressing") == 1
    assert value("modelrollout_phase", namespace="ml", name="t1", phase="Healthy") == 0
    assert value("modelrollout_canary_weight_percent", namespace="ml", name="t1") == 25
    labels = {"namespace": "ml", "name": "t1", "metric": "error-rate", "outcome": "Failed"}
    assert value("modelrollout_analysis_measurements_total", **labels) == 1

    entry = HistoryEntry(
        version="2",
        revision="b",
        outcome="RolledBack",
        started_at=NOW,
        finished_at=NOW + timedelta(minutes=2),
    )
    done = ModelDeploymentStatus(phase=Phase.ROLLED_BACK, history=[entry])
    telemetry.record("ml", "t1", rolling, done, None)
    telemetry.record("ml", "t1", done, done, None)  # the same history again counts once
    finished = {"namespace": "ml", "name": "t1", "outcome": "RolledBack"}
    assert value("modelrollout_rollouts_finished_total", **finished) == 1
    assert value("modelrollout_canary_weight_percent", namespace="ml", name="t1") == 0
    assert value("modelrollout_rollout_duration_seconds_sum", outcome="RolledBack") == 120

    telemetry.forget("ml", "t1")
    assert value("modelrollout_canary_weight_percent", namespace="ml", name="t1") is None
    assert value("modelrollout_analysis_measurements_total", **labels) is None
    assert value("modelrollout_rollouts_finished_total", **finished) is None
    phase = {"namespace": "ml", "name": "t1", "phase": "RolledBack"}
    assert value("modelrollout_phase", **phase) is None
    telemetry.forget("ml", "never-seen")  # nothing to drop is no error


def test_the_judges_evidence_per_check_and_its_series_gone_with_the_object() -> None:
    rolling = ModelDeploymentStatus.model_validate(
        {
            "phase": "Progressing",
            "canary": {"version": "2", "revision": "b", "weight": 5},
            "analysis": {"judge": {"checks": [{"name": "errors", "evidence": 87.5}]}},
        }
    )
    telemetry.record("ml", "t2", ModelDeploymentStatus(), rolling, None)
    assert value("modelrollout_judge_evidence", namespace="ml", name="t2", check="errors") == 87.5
    assert value("modelrollout_judge_evidence", namespace="ml", name="t2", check="latency") is None
    telemetry.forget("ml", "t2")
    assert value("modelrollout_judge_evidence", namespace="ml", name="t2", check="errors") is None
