"""The judge's check kinds, one row each: what a check of the kind reads, what a look
makes of it, and how it is said. A new kind is its own file and a row here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import JudgeCheck
from modelrollout.api.prometheus_source import MetricConventions
from modelrollout.engine.checks import errors, latency, predictions, ratio
from modelrollout.engine.checks.look import Look
from modelrollout.engine.checks.reads import SeriesRead, Tallies


@dataclass(frozen=True)
class Kind:
    reads: Callable[[Check, MetricConventions], tuple[SeriesRead, ...]]
    look: Callable[[Check, JudgeCheck | None, Tallies], Look]
    describe: Callable[[JudgeCheck, float], str]


KINDS: dict[str, Kind] = {
    "errors": Kind(errors.reads, errors.look, errors.describe),
    "latency": Kind(
        latency.reads_of(lambda conv: conv.request_duration_seconds),
        latency.look,
        latency.describe,
    ),
    "timeToFirstToken": Kind(
        latency.reads_of(lambda conv: conv.time_to_first_token_seconds),
        latency.look,
        latency.describe,
    ),
    "interTokenLatency": Kind(
        latency.reads_of(lambda conv: conv.inter_token_latency_seconds),
        latency.look,
        latency.describe,
    ),
    "predictions": Kind(predictions.reads, predictions.look, predictions.describe),
    "ratio": Kind(ratio.reads, ratio.look, ratio.describe),
}
