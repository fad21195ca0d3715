"""Prometheus's query templates: PromQL for the built-in metrics and custom queries,
with label values escaped.

Metric convention for the built-in templates (names configurable in
spec.analysis.prometheus.conventions): a request counter and a latency histogram, both
labelled `namespace`, `model` (the ModelDeployment's name) and `version`
(spec.model.version); the counter also has the status code label (default `code`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from modelrollout.api.durations import format_duration
from modelrollout.api.spec import Metric, MetricConventions
from modelrollout.metrics.provider import Comparison, Target

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


def escape_label_value(value: str) -> str:
    """Escape for a double-quoted PromQL string, so a value can never end the quote."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def variables(target: Target) -> dict[str, str]:
    """The values a custom query may use, label values escaped."""
    return {
        "namespace": escape_label_value(target.namespace),
        "model": escape_label_value(target.model),
        "version": escape_label_value(target.version),
        "revision": escape_label_value(target.revision),
        "interval": format_duration(target.window),
    }


def _selector(target: Target, extra: str = "") -> str:
    v = variables(target)
    labels = f'namespace="{v["namespace"]}", model="{v["model"]}", version="{v["version"]}"'
    return "{" + labels + (", " + extra if extra else "") + "}"


def error_rate(target: Target, conv: MetricConventions) -> str:
    window = format_duration(target.window)
    errors = _selector(target, f'{conv.code_label}=~"5.."')
    every = _selector(target)
    # No 5xx series at all means no errors, not no data: `or vector(0)`. No requests
    # at all still gives an empty denominator, hence no data (Inconclusive).
    return (
        f"(sum(rate({conv.requests_total}{errors}[{window}])) or vector(0))"
        f" / sum(rate({conv.requests_total}{every}[{window}]))"
    )


def latency_p99(target: Target, conv: MetricConventions) -> str:
    window = format_duration(target.window)
    buckets = f"{conv.request_duration_seconds}_bucket{_selector(target)}"
    return f"histogram_quantile(0.99, sum by (le) (rate({buckets}[{window}])))"


def sample_size(target: Target, conv: MetricConventions) -> str:
    """Requests the revision served in the window: fewer than minSampleSize is Inconclusive."""
    window = format_duration(target.window)
    return f"sum(increase({conv.requests_total}{_selector(target)}[{window}]))"


def bucket_matcher(seconds: float) -> str:
    """A regular expression for the `le` label of the bucket at `seconds`, however the
    exporter wrote it: 0.5 as "0.5" or "0.50", 1 as "1" or "1.0"."""
    text = repr(float(seconds))
    if text.endswith(".0"):
        return re.escape(text[:-2]) + r"(\.0*)?"
    return re.escape(text) + "0*"


def _tagged(expr: str, **labels: str) -> str:
    """`expr` with constant labels (label_replace of the empty source matches always)."""
    for name, value in labels.items():
        expr = f'label_replace({expr}, "{name}", "{value}", "", "")'
    return expr


def judge_counts(comparison: Comparison, conv: MetricConventions) -> str:
    """One query for every count the judge needs, evaluated at one instant: what each
    side (canary, stable) served since the judge began, by kind (requests, errors; with
    a latency threshold also timed, the histogram's count, and fast, those within it).
    increase() follows counter resets; sum() over pods."""
    window = format_duration(comparison.canary.window)
    errors = f'{conv.code_label}=~"5.."'
    kinds = {"requests": (conv.requests_total, ""), "errors": (conv.requests_total, errors)}
    if comparison.latency_threshold is not None:
        le = escape_label_value(bucket_matcher(comparison.latency_threshold))
        bucket = f"{conv.request_duration_seconds}_bucket"
        kinds |= {"timed": (bucket, 'le="+Inf"'), "fast": (bucket, f'le=~"{le}"')}
    parts = []
    for side, target in (("canary", comparison.canary), ("stable", comparison.stable)):
        for kind, (metric, extra) in kinds.items():
            counted = f"sum(increase({metric}{_selector(target, extra)}[{window}]))"
            parts.append(_tagged(counted, side=side, kind=kind))
    return " or ".join(parts)


TEMPLATES: dict[str, Callable[[Target, MetricConventions], str]] = {
    "errorRate": error_rate,
    "latencyP99": latency_p99,
}


def render_custom(query: str, target: Target) -> str:
    """Substitute {{ variables }}; an unknown variable is an error, never left in place."""
    values = variables(target)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(
                f"unknown variable {{{{ {name} }}}} (known: {', '.join(sorted(values))})"
            )
        return values[name]

    return _VARIABLE.sub(substitute, query)


def metric_query(metric: Metric, target: Target, conv: MetricConventions) -> str:
    if metric.template is not None:
        return TEMPLATES[metric.template](target, conv)
    return render_custom(metric.query or "", target)
