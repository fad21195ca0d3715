"""spec.analysis.judge.checks: what the judge compares between canary and stable, one
kind per check. Every check reads series labelled `namespace`, `model` and `version`,
so both sides are counted on the same traffic at the same time."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.durations import parse_duration
from modelrollout.api.fields import ZERO, DNSLabel, Duration

CheckKind = Literal[
    "errors", "latency", "timeToFirstToken", "interTokenLatency", "predictions", "ratio"
]
# Latency histograms: a request's (conventions.requestDurationSeconds), an LLM's time to
# first token and between tokens (their own conventions); all read and judged alike.
LATENCY_KINDS = ("latency", "timeToFirstToken", "interTokenLatency")
_LATENCY_CEL = "self.kind in [" + ", ".join(f"'{kind}'" for kind in LATENCY_KINDS) + "]"

MetricName = Annotated[str, Field(max_length=200, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
LabelName = Annotated[str, Field(max_length=100, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]

# A rate check's tolerance is relative (0.25: up to 1.25 times stable's rate); a
# distribution check's is a share (0.05: no share moves by more than 5 points).
RATE_TOLERANCE = 0.25
SHARE_TOLERANCE = 0.05

_SHARES_CEL = f"(self.kind == 'predictions' || ({_LATENCY_CEL} && !has(self.threshold)))"


class Check(Model):
    """One comparison of canary and stable. A guard: the canary is rolled back as soon as
    the evidence shows it worse than stable by more than the tolerance."""

    __rules__ = (
        Rule(
            f"!has(self.threshold) || {_LATENCY_CEL}",
            "threshold belongs to a latency check (latency, timeToFirstToken, interTokenLatency)",
            lambda check: check.threshold is None or check.kind in LATENCY_KINDS,
        ),
        Rule(
            "!has(self.threshold) || duration(self.threshold) > duration('0s')",
            "threshold must be longer than 0s",
            lambda check: check.threshold is None or parse_duration(check.threshold) > ZERO,
        ),
        Rule(
            "!has(self.by) || self.kind == 'predictions'",
            "by belongs to a predictions check",
            lambda check: check.by is None or check.kind == "predictions",
        ),
        Rule(
            "(!has(self.total) && !has(self.better)) || self.kind == 'ratio'",
            "total and better belong to a ratio check",
            lambda check: (check.total is None and check.better is None) or check.kind == "ratio",
        ),
        Rule(
            "!has(self.series) || self.kind != 'errors'",
            "an errors check reads conventions.requestsTotal; count other series with a "
            "ratio check",
            lambda check: check.series is None or check.kind != "errors",
        ),
        Rule(
            f"!has(self.require) || self.require != 'better' || !{_SHARES_CEL}",
            "require: better needs a rate (errors, ratio, latency with a threshold): a "
            "distribution can only be shown not to differ",
            lambda check: check.require != "better" or not check.compares_shares(),
        ),
        Rule(
            f"!has(self.tolerance) || !{_SHARES_CEL} || self.tolerance < 1.0",
            "the tolerance of a predictions check, or of a latency check without a "
            "threshold, is a share: below 1",
            lambda check: (
                check.tolerance is None or not check.compares_shares() or check.tolerance < 1
            ),
        ),
    )
    kind: CheckKind = Field(
        description=(
            "errors: the share of 5xx answers. latency: with a threshold, the share of "
            "requests slower than it; without one, the whole latency distribution (is the "
            "canary slower at any bucket boundary?). timeToFirstToken and interTokenLatency: "
            "the same, on an LLM's histograms of the time to its first token and between "
            "tokens (conventions name them). predictions: the distribution of the "
            "model's outputs, either way (a histogram of scores, or a counter by class). "
            "ratio: any counter over a total (invalid outputs, rejected inputs, clicks)."
        )
    )
    name: DNSLabel | None = Field(
        default=None, description="Shown in status, events and metrics; default: the kind."
    )
    tolerance: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description=(
            "How much worse than stable still counts as no worse. errors, ratio and latency "
            f"with a threshold: relative, default {RATE_TOLERANCE} (up to 1.25 times "
            "stable's rate). predictions and latency without a threshold: a share, default "
            f"{SHARE_TOLERANCE} (no class, or share below a bucket boundary, moves by more "
            "than 5 points; a lower bound of the total variation distance)."
        ),
    )
    threshold: Duration | None = Field(
        default=None,
        description=(
            "latency: compare the share slower than this; it must be one of the histogram's "
            "bucket boundaries (le), for example 500ms for le=0.5."
        ),
    )
    series: MetricName | None = Field(
        default=None,
        description=(
            "The series read instead of the convention's: latency and predictions, a "
            "histogram (its _bucket series are read) or, for predictions with `by`, a "
            "counter; ratio, the counter counted against the total."
        ),
    )
    by: LabelName | None = Field(
        default=None,
        description=(
            "predictions: the label holding the predicted class of a counter; default "
            "conventions.predictionLabel, unless `series` names a histogram."
        ),
    )
    total: MetricName | None = Field(
        default=None, description="ratio: the counter of all events; default requestsTotal."
    )
    better: Literal["lower", "higher"] | None = Field(
        default=None,
        description=(
            "ratio: which way is better, lower (failures; the default) or higher (clicks, "
            "accepted recommendations)."
        ),
    )

    require: Literal["notWorse", "better"] | None = Field(
        default=None,
        description=(
            "Make the check a goal too: a step (and the promotion) passes only once the "
            "canary is shown not worse than stable by more than the tolerance (notWorse; "
            "for predictions, not different by more), or shown better (better: an A/B "
            "test that promotes the winner). A canary that has not shown it within "
            "judge.deadline is rolled back. Without it the check is a guard only."
        ),
    )

    def label(self) -> str:
        return self.name or self.kind

    def compares_shares(self) -> bool:
        """A distribution check (a share tolerance), rather than a rate check."""
        return self.kind == "predictions" or (self.kind in LATENCY_KINDS and self.threshold is None)

    def tolerance_value(self) -> float:
        if self.tolerance is not None:
            return self.tolerance
        return SHARE_TOLERANCE if self.compares_shares() else RATE_TOLERANCE

    def threshold_seconds(self) -> float | None:
        return None if self.threshold is None else parse_duration(self.threshold).total_seconds()
