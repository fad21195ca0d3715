"""status.analysis.judge: the comparative judge's state during a rollout, each check's
counts since the judge began and its running evidence (a restarted operator continues
the same tests from it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from modelrollout.api.base import Model

MAX_BUCKETS = 32  # of a distribution check: classes, or a histogram's bucket boundaries


class JudgeCheck(Model):
    """One check of the judge: the counts since the judge began and the running evidence.
    A rate check (errors, ratio, latency with a threshold) keeps requests and bad ones per
    side; a distribution check (predictions, latency without a threshold) its buckets."""

    name: str = Field(description="The check's name (its kind unless named).")
    kind: str = Field(default="errors", description="errors, latency, predictions or ratio.")
    canary_requests: float = Field(default=0, ge=0, description="Canary requests counted.")
    canary_bad: float = Field(default=0, ge=0, description="The canary's bad requests counted.")
    stable_requests: float = Field(default=0, ge=0, description="Stable requests counted.")
    stable_bad: float = Field(default=0, ge=0, description="Stable's bad requests counted.")
    log_ratios: list[Annotated[float, Field(description="One alternative's log ratio.")]] = Field(
        default_factory=list,
        max_length=16,
        description="Log likelihood ratio of each alternative (a rate check's state).",
    )
    buckets: list[Annotated[str, Field(max_length=64, description="A bucket.")]] = Field(
        default_factory=list,
        max_length=MAX_BUCKETS,
        description="A distribution check's buckets: classes, or bucket boundaries (le).",
    )
    canary_counts: list[Annotated[float, Field(description="A bucket's count.")]] = Field(
        default_factory=list, max_length=MAX_BUCKETS, description="The canary's count per bucket."
    )
    stable_counts: list[Annotated[float, Field(description="A bucket's count.")]] = Field(
        default_factory=list, max_length=MAX_BUCKETS, description="Stable's count per bucket."
    )
    shifts: list[Annotated[float, Field(description="A bucket's weighted shift.")]] = Field(
        default_factory=list,
        max_length=MAX_BUCKETS,
        description="Per bucket, the weighted sum of the canary's share minus stable's.",
    )
    weight: float = Field(default=0, ge=0, description="The sum of the looks' weights.")
    slots: int = Field(
        default=0, ge=0, le=MAX_BUCKETS, description="Buckets the evidence is averaged over."
    )
    evidence: float = Field(
        default=1.0,
        ge=0,
        description=(
            "How many times the data outweigh the hypothesis that the canary is no worse "
            "than stable by more than the tolerance (1: no evidence either way)."
        ),
    )
    goal_log_ratios: list[Annotated[float, Field(description="A log ratio.")]] = Field(
        default_factory=list,
        max_length=16,
        description="A rate goal's test that the canary is not worse (or better).",
    )
    grid: list[Annotated[float, Field(description="A log likelihood.")]] = Field(
        default_factory=list,
        max_length=64,
        description="A rate goal's log likelihood of each ratio on a grid (its interval).",
    )
    interval: list[Annotated[float, Field(description="A bound.")]] = Field(
        default_factory=list,
        max_length=2,
        description=(
            "A goal's confidence interval: of the canary's rate over stable's, or of the "
            "largest difference of shares (canary minus stable), holding at every look."
        ),
    )
    goal_met: bool | None = Field(
        default=None, description="A goal's state: shown (true), not yet (false)."
    )

    @field_validator("evidence", mode="before")
    @classmethod
    def _bounded(cls, value: float) -> float:
        """Overwhelming evidence is written as the largest float (JSON has no infinity)."""
        return min(float(value), 1.0e300)


class JudgeStatus(Model):
    """The comparative judge's state during a rollout."""

    since: datetime | None = Field(
        default=None, description="Counting began (the canary's first judged traffic)."
    )
    evaluated_at: datetime | None = Field(default=None, description="The latest look.")
    read_at: datetime | None = Field(
        default=None,
        description="The latest look that read counts (traffic moves forward only on one).",
    )
    step_requests: float = Field(
        default=0, ge=0, description="Canary requests counted since the current step began."
    )
    checks: list[JudgeCheck] = Field(default_factory=list, max_length=8, description="Checks.")
    message: str = Field(default="", description="The latest look, in words.")
