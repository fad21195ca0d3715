"""ModelDeployment .status: the state. A fresh process continues a rollout from this alone."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from modelrollout.api.base import Model
from modelrollout.api.judge_status import JudgeStatus
from modelrollout.api.route_parts import HeaderMatch
from modelrollout.api.vocabulary import LEGACY_PROMOTION_STAGES, Outcome, Phase, PromotionStage

MAX_MEASUREMENTS = 10
MAX_HISTORY = 10


class RevisionStatus(Model):
    """One running revision of the model."""

    version: str = Field(description="Model version of this revision.")
    revision: str = Field(description="Hash of the pod-shaping spec; names its Deployment.")
    digest: str = Field(
        default="", max_length=64, description="SHA-256 of the pod-shaping spec, in full."
    )
    weight: int = Field(default=0, ge=0, le=100, description="Percent of live traffic it gets.")
    replicas: int = Field(default=0, ge=0, description="Pods requested.")
    ready_replicas: int = Field(default=0, ge=0, description="Pods ready.")
    mirror: int = Field(
        default=0, ge=0, le=100, description="Percent of live requests copied to it."
    )
    header_route: list[HeaderMatch] = Field(
        default_factory=list,
        max_length=8,
        description="Requests with all these headers go to it, whatever the weights.",
    )

    def gets_traffic(self) -> bool:
        """Live requests reach it: by weight, as copies, or by their headers."""
        return self.weight > 0 or self.mirror > 0 or bool(self.header_route)


class Measurement(Model):
    """One metric measured once."""

    metric: str = Field(description="The metric's name from spec.analysis.metrics.")
    outcome: Outcome = Field(description="Successful, Failed, Inconclusive or Error.")
    value: float | None = Field(default=None, description="The measured value, if any.")
    min: float | None = Field(default=None, description="Lowest passing value.")
    max: float | None = Field(default=None, description="Highest passing value.")
    message: str = Field(default="", description="Why, in words.")
    at: datetime = Field(description="When it was measured.")

    @field_validator("value", "min", "max", mode="after")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        """NaN and infinities never enter the status (JSON cannot carry them)."""
        return value if value is None or math.isfinite(value) else None


class AnalysisStatus(Model):
    """Counters of the current rollout's analysis."""

    successful: int = Field(default=0, ge=0, description="Successful measurement runs.")
    failed: int = Field(default=0, ge=0, description="Failed measurement runs.")
    inconclusive: int = Field(default=0, ge=0, description="Inconclusive measurement runs.")
    errors: int = Field(default=0, ge=0, description="Runs that could not measure.")
    consecutive_errors: int = Field(default=0, ge=0, description="Errors since the last answer.")
    step_successes: int = Field(
        default=0, ge=0, description="Successful runs since the current step began."
    )
    last_run_at: datetime | None = Field(default=None, description="When the last run ended.")
    last_success_at: datetime | None = Field(
        default=None,
        description="When the last successful run ended (traffic moves forward only on one).",
    )
    last: list[Measurement] = Field(
        default_factory=list,
        max_length=MAX_MEASUREMENTS,
        description="The latest measurements, newest first.",
    )
    judge: JudgeStatus | None = Field(
        default=None, description="The comparative judge, when spec.analysis.judge is set."
    )


class Condition(Model):
    """A condition per Kubernetes API conventions."""

    type: str = Field(description="Ready, Progressing, Paused, RolledBack or InvalidSpec.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word saying why.")
    message: str = Field(default="", description="Why, for people.")
    observed_generation: int | None = Field(
        default=None, description="The spec generation this condition was computed from."
    )
    last_transition_time: datetime = Field(description="When status last changed.")


class HistoryEntry(Model):
    """A finished rollout."""

    version: str = Field(description="Model version rolled out.")
    revision: str = Field(description="Its revision hash.")
    outcome: str = Field(description="Promoted, RolledBack, Superseded or Aborted.")
    reason: str = Field(default="", description="Why it ended so.")
    from_version: str = Field(default="", description="The stable version it started from.")
    from_revision: str = Field(default="", description="The stable revision it started from.")
    from_digest: str = Field(
        default="",
        max_length=64,
        description="SHA-256 of that revision's pod-shaping spec: undo verifies its record.",
    )
    started_at: datetime | None = Field(default=None, description="When the rollout began.")
    finished_at: datetime = Field(description="When it ended.")


class ScaleDown(Model):
    """A revision to scale to zero once `at` has passed."""

    revision: str = Field(description="Revision hash.")
    at: datetime = Field(description="When to scale it down.")


class QueueStatus(Model):
    """A rollout waiting for one of the operator's rollout slots."""

    since: datetime = Field(description="When it joined the queue (its place in line).")
    position: int = Field(ge=1, description="Its place in line, 1 first.")
    limit: str = Field(default="", max_length=256, description="The limit that is full.")
    held_by: list[
        Annotated[str, Field(max_length=317, description="A rollout: namespace/name.")]
    ] = Field(
        default_factory=list,
        max_length=8,
        description="Rollouts holding that limit's slots (namespace/name), up to 8.",
    )


class ModelDeploymentStatus(Model):
    """Observed state of the rollout."""

    phase: Phase = Field(default=Phase.PENDING, description="Where the rollout stands.")
    message: str = Field(default="", description="The latest decision, in words.")
    replicas: int = Field(
        default=0,
        ge=0,
        description="Pods requested, of every live revision (the scale subresource).",
    )
    selector: str = Field(
        default="",
        description="Label selector of the pods of every live revision, for autoscalers.",
    )
    observed_generation: int | None = Field(
        default=None, description="The spec generation last acted on."
    )
    stable: RevisionStatus | None = Field(default=None, description="The serving revision.")
    canary: RevisionStatus | None = Field(
        default=None, description="The revision being rolled out, if any."
    )
    previous: RevisionStatus | None = Field(
        default=None,
        description="After a blue/green switch: the replaced revision, kept warm meanwhile.",
    )
    queue: QueueStatus | None = Field(
        default=None,
        description=(
            "While a rollout waits for a slot (the operator's limit of rollouts at once): "
            "its place in line. Pending with reason Queued meanwhile."
        ),
    )
    returning: RevisionStatus | None = Field(
        default=None,
        description=(
            "A revision rolled back (or superseded) under a capacity budget, keeping the "
            "traffic stable cannot carry yet; it hands it back as stable's pods become ready."
        ),
    )
    post_promotion_until: datetime | None = Field(
        default=None, description="End of the post-promotion analysis of a blue/green switch."
    )
    current_step: int | None = Field(
        default=None, ge=0, description="Index of the canary step in progress."
    )
    step_started_at: datetime | None = Field(default=None, description="When it began.")
    weight_set_at: datetime | None = Field(
        default=None,
        description="When the canary's traffic (weight, mirror, header route) last changed.",
    )
    rollout_started_at: datetime | None = Field(
        default=None, description="When the current rollout began."
    )
    plan: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "Digest of the strategy the rollout follows (its kind and steps): a change "
            "mid-rollout resumes on the new plan instead of running off its end."
        ),
    )
    promotion_stage: PromotionStage | None = Field(
        default=None,
        description=(
            "Progress of a promotion: ScaleUp (the canary to full size), AllToCanary "
            "(all traffic to it), SwitchStable (the stable Service to its pods), "
            "BackToStable (traffic back through the stable Service)."
        ),
    )
    promotion_reason: str | None = Field(
        default=None, description="Why the promotion in progress began (for the history)."
    )
    pause_reason: str | None = Field(
        default=None, description="Why the rollout waits, while it is Paused."
    )
    rollback_reason: str | None = Field(
        default=None, description="Why the last rollout was rolled back."
    )
    aborted_revision: str | None = Field(
        default=None,
        description="A revision rolled back: not tried again until the spec changes or a retry.",
    )
    handled_request: str | None = Field(
        default=None,
        description=(
            "The last manual request run (see annotations): one not newer than it is refused."
        ),
    )
    refused_request: str | None = Field(
        default=None, description="The last manual request refused (said once, in an Event)."
    )
    analysis: AnalysisStatus = Field(
        default_factory=AnalysisStatus, description="Analysis of the current rollout."
    )
    route_empty_filters: list[Annotated[int, Field(ge=0, description="A rule's index.")]] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Rules of the route whose owner wrote an empty filters list, seen while no "
            "mirror of ours was on it: kept when a mirror leaves."
        ),
    )
    scale_downs: list[ScaleDown] = Field(
        default_factory=list, description="Revisions waiting to be scaled to zero."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    history: list[HistoryEntry] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Finished rollouts, newest first.",
    )

    @field_validator("promotion_stage", mode="before")
    @classmethod
    def _legacy_stage(cls, value: Any) -> Any:
        """An integer stage (written by 0.1.0) is its index in the enum's order."""
        if isinstance(value, int) and 0 <= value < len(LEGACY_PROMOTION_STAGES):
            return LEGACY_PROMOTION_STAGES[value]
        return value
