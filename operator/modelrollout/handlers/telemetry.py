"""The operator's own Prometheus metrics: one series set per ModelDeployment, never per request."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.api.vocabulary import Phase

PHASE = Gauge(
    "modelrollout_phase",
    "1 for the ModelDeployment's current phase, 0 for the others",
    ["namespace", "name", "phase"],
)
WEIGHT = Gauge(
    "modelrollout_canary_weight_percent",
    "Percent of live traffic on the canary (0 without a rollout)",
    ["namespace", "name"],
)
JUDGE_EVIDENCE = Gauge(
    "modelrollout_judge_evidence",
    "The judge's running evidence that the canary is worse, per check (1: none either way); "
    "it rolls back at 1 / falseRollbackRate",
    ["namespace", "name", "check"],
)
MEASUREMENTS = Counter(
    "modelrollout_analysis_measurements",
    "Analysis measurements by metric and outcome",
    ["namespace", "name", "metric", "outcome"],
)
FINISHED = Counter(
    "modelrollout_rollouts_finished",
    "Finished rollouts by outcome (Promoted, RolledBack, Superseded)",
    ["namespace", "name", "outcome"],
)
WATCH_EVENTS = Counter(
    "modelrollout_watch_events",
    "Events the watches delivered, by resource and whether the object is ours: an owned "
    "kind's labelled as a ModelDeployment's (the API server selects only those), a route "
    "named by a ModelDeployment (all routes in scope, or those --route-label-selector "
    "selects)",
    ["resource", "ours"],
)
DURATION = Histogram(
    "modelrollout_rollout_duration_seconds",
    "Time from a rollout's start to its end, by outcome",
    ["outcome"],
    buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
RECONCILE_ERRORS = Counter(
    "modelrollout_reconcile_errors", "Reconciles that could not finish (ReconcileError, or raised)"
)
RECONCILE_SECONDS = Histogram("modelrollout_reconcile_duration_seconds", "Time of one tick")


def serve(port: int) -> None:
    start_http_server(port)


def record(
    namespace: str,
    name: str,
    old: ModelDeploymentStatus,
    new: ModelDeploymentStatus,
    measurements: Iterable[Measurement] | None,
) -> None:
    for phase in Phase:
        PHASE.labels(namespace, name, phase.value).set(1 if new.phase == phase else 0)
    WEIGHT.labels(namespace, name).set(new.canary.weight if new.canary else 0)
    judge = new.analysis.judge
    for check in judge.checks if judge is not None else ():
        JUDGE_EVIDENCE.labels(namespace, name, check.name).set(check.evidence)
    for m in measurements or ():
        MEASUREMENTS.labels(namespace, name, m.metric, m.outcome.value).inc()
    last = old.history[0].finished_at if old.history else None
    for entry in new.history:
        if last is not None and entry.finished_at <= last:
            break
        FINISHED.labels(namespace, name, entry.outcome).inc()
        if entry.started_at is not None:
            DURATION.labels(entry.outcome).observe(
                (entry.finished_at - entry.started_at).total_seconds()
            )


def forget(namespace: str, name: str, **_: Any) -> None:
    """Drop every series of a deleted ModelDeployment: a platform where ModelDeployments
    come and go must not keep their series for the operator's lifetime."""
    for metric in (PHASE, WEIGHT, JUDGE_EVIDENCE, MEASUREMENTS, FINISHED):
        metric.remove_by_labels({"namespace": namespace, "name": name})
