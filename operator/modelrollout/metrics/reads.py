"""What a decision reads from the metrics provider: the analysis run and the judge's
look, each only when due, and each for the revisions the status names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from modelrollout.api.spec import Analysis, ModelDeploymentSpec
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.engine.analysis import analysis_due, analysis_target
from modelrollout.engine.judge import judge_since, look_due
from modelrollout.engine.model import JudgeReading
from modelrollout.metrics.compare import look
from modelrollout.metrics.measure import measure
from modelrollout.metrics.provider import Comparison, MetricsProvider, Target

ProviderFor = Callable[[Analysis], MetricsProvider]


def reads_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether a decision now would query the provider (measurements or judge_look)."""
    return _run_due(spec, status, now) or _look_due(spec, status, now)


def _run_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    return (
        spec.analysis is not None
        and analysis_target(status) is not None
        and analysis_due(spec, status, now)
    )


def _look_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    analysis = spec.analysis
    return (
        analysis is not None
        and analysis.judge is not None
        and judge_since(spec, status) is not None
        and status.canary is not None
        and status.stable is not None
        and look_due(spec, status, now)
    )


def measurements(
    provider: ProviderFor,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> tuple[Measurement, ...] | None:
    """The threshold metrics, once per interval."""
    analysis, judged = spec.analysis, analysis_target(status)
    if analysis is None or judged is None or not _run_due(spec, status, now):
        return None
    target = Target(namespace, name, judged.version, judged.revision, analysis.window_delta())
    return measure(provider(analysis), analysis, target, now)


def judge_look(
    provider: ProviderFor,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> JudgeReading | None:
    """The judge's look, once per scrape: canary and stable counted since it began."""
    since = judge_since(spec, status)
    analysis, canary, stable = spec.analysis, status.canary, status.stable
    if since is None or analysis is None or analysis.judge is None:
        return None
    if canary is None or stable is None or not _look_due(spec, status, now):
        return None
    if canary.version == stable.version:
        return JudgeReading(
            since,
            problem=f"canary and stable both report version {canary.version}: their "
            "metrics cannot be told apart, so the judge cannot compare them",
        )
    window = max(now - since, analysis.scrape_delta())
    comparison = Comparison(
        Target(namespace, name, canary.version, canary.revision, window),
        Target(namespace, name, stable.version, stable.revision, window),
        analysis.judge.latency_seconds(),
    )
    return look(provider(analysis), comparison, since)
