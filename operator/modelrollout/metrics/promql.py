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
from modelrollout.engine.checks.reads import LookPlan, Matcher
from modelrollout.metrics.provider import Target

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


def _busiest_pod(gauge: str, target: Target) -> str:
    """A gauge's average over the window on the pod where it is highest."""
    return f"max(avg_over_time({gauge}{_selector(target)}[{format_duration(target.window)}]))"


def queue_depth(target: Target, conv: MetricConventions) -> str:
    return _busiest_pod(conv.queue_depth, target)


def kv_cache_usage(target: Target, conv: MetricConventions) -> str:
    return _busiest_pod(conv.kv_cache_usage, target)


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


def _matcher(m: Matcher) -> str:
    if m.how == "number":
        return f'{m.label}=~"{escape_label_value(bucket_matcher(float(m.value)))}"'
    operator = "=~" if m.how == "regex" else "="
    return f'{m.label}{operator}"{escape_label_value(m.value)}"'


def since_start(metric: str, selector: str, window: str) -> str:
    """A counter's growth over the window per series, exactly: its value now minus its
    value when the window began, for a series that was there then, and the whole value
    of one that appeared since (its first increments, which increase() cannot see: it
    starts at the first sample). Not increase(): it extrapolates to the window's ends,
    so a look could count more than the next one, and a judge that takes no evidence
    from a count that went down would then take none until the counts caught up with
    the overshoot (found under load: a first token twice as slow judged for 50 s
    without evidence)."""
    series = f"{metric}{selector}"
    before = f"{series} offset {window}"
    return f"(({series} - {before}) or ({series} unless {before}))"


def judge_sums(plan: LookPlan, namespace: str, model: str) -> str:
    """One query for every sum of the judge's plan, at one instant, tagged with the
    side, check, part and bucket each belongs to."""
    window = format_duration(plan.window)
    parts = []
    for side, revision in (("canary", plan.canary), ("stable", plan.stable)):
        target = Target(namespace, model, revision.version, revision.revision, plan.window)
        for read in plan.reads:
            selector = _selector(target, ", ".join(_matcher(m) for m in read.matchers))
            grown = since_start(read.metric, selector, window)
            if read.by is None:
                summed = f"sum({grown})"
            else:
                by = read.by
                summed = f'label_replace(sum by ({by}) ({grown}), "bucket", "$1", "{by}", "(.*)")'
            parts.append(_tagged(summed, side=side, check=read.check, part=read.part))
    return " or ".join(parts)


TEMPLATES: dict[str, Callable[[Target, MetricConventions], str]] = {
    "errorRate": error_rate,
    "latencyP99": latency_p99,
    "queueDepth": queue_depth,
    "kvCacheUsage": kv_cache_usage,
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
