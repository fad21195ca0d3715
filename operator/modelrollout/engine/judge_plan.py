"""When the judge looks and what it reads then: the engine's read plan, which a metrics
provider only carries out (metrics/reads.py)."""

from __future__ import annotations

from datetime import datetime

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.engine.checks.reads import LookPlan, Side
from modelrollout.engine.checks.table import KINDS
from modelrollout.engine.promotion import verdict_is_in
from modelrollout.engine.tick import TRAITS


def judge_since(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """Where the judge's counts start, while the judge applies (None otherwise): fixed
    at its first look; before that, when the canary's traffic last changed."""
    canary = status.canary
    if spec.analysis is None or spec.analysis.judge is None or canary is None:
        return None
    if not (canary.gets_traffic() or TRAITS[spec.strategy.kind].judged_without_weight):
        return None
    if verdict_is_in(status.promotion_stage):
        return None
    judge = status.analysis.judge
    if judge is not None and judge.since is not None:
        return judge.since
    return status.weight_set_at or status.step_started_at


def next_look_at(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> datetime | None:
    """One scrape after the previous look (or after counting began)."""
    since = judge_since(spec, status)
    if since is None or spec.analysis is None:
        return None
    judge = status.analysis.judge
    last = judge.evaluated_at if judge is not None and judge.evaluated_at else since
    return max(last, since) + spec.analysis.scrape_delta()


def look_plan(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> LookPlan | None:
    """What the judge reads now: every check's sums for canary and stable since it
    began; None when no look is due. A plan with a problem reads nothing."""
    since, due = judge_since(spec, status), next_look_at(spec, status)
    analysis, canary, stable = spec.analysis, status.canary, status.stable
    if since is None or due is None or now < due or analysis is None or analysis.judge is None:
        return None
    if canary is None or stable is None:
        return None
    sides = Side(canary.version, canary.revision), Side(stable.version, stable.revision)
    window = max(now - since, analysis.scrape_delta())
    if canary.version == stable.version:
        problem = (
            f"canary and stable both report version {canary.version}: their metrics "
            "cannot be told apart, so the judge cannot compare them"
        )
        return LookPlan(since, window, *sides, reads=(), problem=problem)
    conventions = analysis.prometheus.conventions
    reads = tuple(r for c in analysis.judge.checks for r in KINDS[c.kind].reads(c, conventions))
    return LookPlan(since, window, *sides, reads=reads)
