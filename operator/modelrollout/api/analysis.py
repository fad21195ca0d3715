"""spec.analysis: where metrics come from, what is measured, and how often."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.durations import parse_duration
from modelrollout.api.fields import NO_CONTROLS_BUT_LINES, ZERO, DNSLabel, Duration
from modelrollout.api.judge_checks import Check
from modelrollout.api.prometheus_source import (
    MIN_PERIOD,
    CASource,
    MetricConventions,
    PrometheusSource,
    SecretRef,
)

__all__ = ["CASource", "Check", "MetricConventions", "PrometheusSource", "SecretRef"]

MAX_CHECKS = 8


class Metric(Model):
    """One check. Built-in template or custom PromQL; passes when the value is within [min, max]."""

    __rules__ = (
        Rule(
            "[has(self.template), has(self.query)].exists_one(x, x)",
            "a metric sets exactly one of template or query",
            lambda metric: (metric.template is None) != (metric.query is None),
        ),
        Rule(
            "has(self.min) || has(self.max)",
            "a metric needs a threshold: min, max or both",
            lambda metric: metric.min is not None or metric.max is not None,
        ),
        Rule(
            "!has(self.min) || !has(self.max) || self.max >= self.min",
            "max must not be below min",
            lambda metric: metric.min is None or metric.max is None or metric.max >= metric.min,
        ),
    )
    name: DNSLabel = Field(description="Name shown in status, events and the operator's metrics.")
    template: Literal["errorRate", "latencyP99", "queueDepth", "kvCacheUsage"] | None = Field(
        default=None,
        description=(
            "Built-in query: errorRate (share of 5xx responses, 0..1), latencyP99 "
            "(seconds), or an LLM server's queueDepth (requests waiting) or kvCacheUsage "
            "(0..1), each the busiest pod's average over the window."
        ),
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        pattern=NO_CONTROLS_BUT_LINES,
        description=(
            "Custom PromQL returning one number. Variables: {{ model }}, {{ version }}, "
            "{{ revision }}, {{ namespace }}, {{ interval }}; label values are escaped."
        ),
    )
    min: float | None = Field(default=None, description="Lowest passing value.")
    max: float | None = Field(default=None, description="Highest passing value.")


class Judge(Model):
    """The canary compared with stable on the same traffic at the same time, after every
    scrape: rolled back as soon as the evidence that it is worse suffices, and by chance
    at most `falseRollbackRate` of the time, all checks together (anytime-valid tests:
    docs/judge.md)."""

    __rules__ = (
        Rule(
            "duration(self.deadline) > duration('0s')",
            "deadline must be longer than 0s",
            lambda judge: parse_duration(judge.deadline) > ZERO,
        ),
        Rule(
            "self.checks.all(c, self.checks.exists_one(d, (has(d.name) ? d.name : d.kind) "
            "== (has(c.name) ? c.name : c.kind)))",
            "each check needs its own name (a kind used twice needs a name)",
            lambda judge: len({c.label() for c in judge.checks}) == len(judge.checks),
        ),
    )
    compare: Literal["stable"] = Field(
        default="stable", description="What the canary is compared with: the stable version."
    )
    false_rollback_rate: float = Field(
        default=0.01,
        ge=0.0001,
        le=0.2,
        description=(
            "The chance of rolling back a canary no worse than stable (by more than each "
            "check's tolerance), however long the rollout and however often it looks, all "
            "checks together: each check rolls back at evidence checks / falseRollbackRate."
        ),
    )
    checks: list[Check] = Field(
        default_factory=lambda: [Check(kind="errors")],
        min_length=1,
        max_length=MAX_CHECKS,
        description="What is compared, each check one kind; default: errors.",
        json_schema_extra={"default": [{"kind": "errors"}]},
    )
    deadline: Duration = Field(
        default="30m",
        description=(
            "With goals (checks with `require`): how long after the judge's first look "
            "every goal must be met; a canary that has not shown it by then is rolled "
            "back (an A/B test that cannot tell the versions apart keeps stable)."
        ),
    )

    def goals(self) -> list[Check]:
        return [c for c in self.checks if c.require is not None]

    def deadline_delta(self) -> timedelta:
        return parse_duration(self.deadline)


class Analysis(Model):
    """How each step is judged: threshold metrics, the comparative judge, or both.
    Missing data is never a pass."""

    __rules__ = (
        Rule(
            f"duration(self.interval) >= duration('{MIN_PERIOD}')",
            f"interval must be at least {MIN_PERIOD}",
            lambda analysis: analysis.interval_delta() >= parse_duration(MIN_PERIOD),
        ),
        Rule(
            "!has(self.window) || duration(self.window) > duration('0s')",
            "window must be longer than 0s",
            lambda analysis: analysis.window is None or parse_duration(analysis.window) > ZERO,
        ),
        Rule(
            "duration(has(self.window) ? self.window : self.interval) >= "
            "duration(self.prometheus.scrapeInterval) + duration(self.prometheus.scrapeInterval)",
            "the window (or the interval, without a window) must span at least two scrapes "
            "(2 x prometheus.scrapeInterval): a shorter one never has data",
            lambda analysis: (
                analysis.window_delta() >= 2 * parse_duration(analysis.prometheus.scrape_interval)
            ),
        ),
        Rule(
            "size(self.metrics) > 0 || has(self.judge)",
            "analysis needs metrics, a judge, or both",
            lambda analysis: bool(analysis.metrics) or analysis.judge is not None,
        ),
    )

    prometheus: PrometheusSource = Field(description="Where the metrics come from.")
    interval: Duration = Field(default="30s", description="Time between two measurements.")
    window: Duration | None = Field(
        default=None, description="Range each measurement looks back over; default: interval."
    )
    failure_limit: int = Field(
        default=2,
        ge=0,
        le=100,
        description="Failed measurements tolerated in a rollout; one more rolls it back.",
    )
    consecutive_error_limit: int = Field(
        default=4,
        ge=1,
        le=100,
        description=(
            "Errors in a row (Prometheus unreachable, bad query) that pause the rollout; "
            "it resumes when Prometheus answers again."
        ),
    )
    min_sample_size: int = Field(
        default=100,
        ge=0,
        description=(
            "Fewer canary requests than this in a window: Inconclusive, never a pass. With "
            "the judge, a step passes only after the canary served this many in it."
        ),
    )
    metrics: list[Metric] = Field(
        default_factory=list,
        max_length=32,
        description="Threshold checks, once per interval.",
        json_schema_extra={"default": []},
    )
    judge: Judge | None = Field(
        default=None, description="Compare the canary with stable after every scrape."
    )

    def interval_delta(self) -> timedelta:
        return parse_duration(self.interval)

    def window_delta(self) -> timedelta:
        return parse_duration(self.window or self.interval)

    def scrape_delta(self) -> timedelta:
        return parse_duration(self.prometheus.scrape_interval)
