"""PromQL for the built-in templates and custom queries, with label values escaped.

Metric convention for the built-in templates (names configurable in
spec.analysis.prometheus.conventions): a request counter and a latency histogram, both
labelled `namespace`, `model` (the ModelDeployment's name) and `version`
(spec.model.version); the counter also has the status code label (default `code`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from modelrollout.api.durations import format_duration
from modelrollout.api.spec import MetricConventions

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


def escape_label_value(value: str) -> str:
    """Escape for a double-quoted PromQL string, so a value can never end the quote."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Target:
    """What is measured: one revision of one ModelDeployment, over one window."""

    namespace: str
    model: str
    version: str
    revision: str
    window: timedelta

    def variables(self) -> dict[str, str]:
        return {
            "namespace": escape_label_value(self.namespace),
            "model": escape_label_value(self.model),
            "version": escape_label_value(self.version),
            "revision": escape_label_value(self.revision),
            "interval": format_duration(self.window),
        }


def _selector(target: Target, extra: str = "") -> str:
    v = target.variables()
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


TEMPLATES = {"errorRate": error_rate, "latencyP99": latency_p99}


def render_custom(query: str, target: Target) -> str:
    """Substitute {{ variables }}; an unknown variable is an error, never left in place."""
    values = target.variables()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(
                f"unknown variable {{{{ {name} }}}} (known: {', '.join(sorted(values))})"
            )
        return values[name]

    return _VARIABLE.sub(substitute, query)
