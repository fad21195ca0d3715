"""Carries out the engine's read plans through a metrics provider: the analysis run and
the judge's look, each only when the engine says one is due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from modelrollout.api.spec import Analysis, ModelDeploymentSpec
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.engine.analysis import run_plan
from modelrollout.engine.judge_plan import look_plan
from modelrollout.engine.model import JudgeReading
from modelrollout.metrics.measure import measure, said
from modelrollout.metrics.provider import MetricsProvider, Target

ProviderFor = Callable[[Analysis], MetricsProvider]


def reads_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether a decision now would query the provider (measurements or judge_look)."""
    return run_plan(spec, status, now) is not None or look_plan(spec, status, now) is not None


def measurements(
    provider: ProviderFor,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> tuple[Measurement, ...] | None:
    """The threshold metrics, once per interval."""
    plan, analysis = run_plan(spec, status, now), spec.analysis
    if plan is None or analysis is None:
        return None
    target = Target(namespace, name, plan.version, plan.revision, plan.window)
    return measure(provider(analysis), analysis, target, now)


def judge_look(
    provider: ProviderFor,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> JudgeReading | None:
    """The judge's look, once per scrape: the sums its plan asks for."""
    plan, analysis = look_plan(spec, status, now), spec.analysis
    if plan is None or analysis is None:
        return None
    if plan.problem:
        return JudgeReading(plan.since, problem=plan.problem)
    try:
        tallies = provider(analysis).tallies(plan, namespace, name)
    except Exception as exc:  # a provider's bug must not stop the rollout's loop
        return JudgeReading(plan.since, problem=said(exc), error=True)
    return JudgeReading(plan.since, tallies)
