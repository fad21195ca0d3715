"""Query rendering and escaping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout.api.spec import MetricConventions
from modelrollout.metrics.promql import (
    error_rate,
    escape_label_value,
    kv_cache_usage,
    latency_p99,
    queue_depth,
    render_custom,
    sample_size,
)
from modelrollout.metrics.provider import Target

TARGET = Target("ml", "fraud", "2.1.0", "abc123", timedelta(seconds=30))
CONV = MetricConventions()


def test_error_rate_template() -> None:
    assert error_rate(TARGET, CONV) == (
        '(sum(rate(model_requests_total{namespace="ml", model="fraud", version="2.1.0", '
        'code=~"5.."}[30s])) or vector(0)) / sum(rate(model_requests_total{namespace="ml", '
        'model="fraud", version="2.1.0"}[30s]))'
    )


def test_latency_template_uses_the_histogram_buckets() -> None:
    assert latency_p99(TARGET, CONV) == (
        "histogram_quantile(0.99, sum by (le) (rate(model_request_duration_seconds_bucket"
        '{namespace="ml", model="fraud", version="2.1.0"}[30s])))'
    )


def test_metric_names_are_configurable() -> None:
    conv = MetricConventions(
        requests_total="http_requests_total",
        request_duration_seconds="http_latency_seconds",
        code_label="status",
    )
    assert 'http_requests_total{namespace="ml"' in error_rate(TARGET, conv)
    assert 'status=~"5.."' in error_rate(TARGET, conv)
    assert "http_latency_seconds_bucket" in latency_p99(TARGET, conv)


def test_sample_size_counts_requests_in_the_window() -> None:
    assert sample_size(TARGET, CONV).startswith("sum(increase(model_requests_total{")


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ('x"} or vector(1) #', 'x\\"} or vector(1) #'),
    ],
)
def test_label_values_are_escaped(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


def test_a_hostile_version_cannot_break_out_of_its_quotes() -> None:
    hostile = Target("ml", "fraud", '1"} or vector(0) or {x="', "r", timedelta(seconds=30))
    query = error_rate(hostile, CONV)
    assert 'version="1\\"} or vector(0) or {x=\\""' in query


def test_custom_query_variables() -> None:
    query = render_custom(
        'avg(drift{model="{{ model }}", version="{{version}}", rev="{{ revision }}", '
        'ns="{{ namespace }}"}[{{ interval }}])',
        TARGET,
    )
    assert query == 'avg(drift{model="fraud", version="2.1.0", rev="abc123", ns="ml"}[30s])'


def test_custom_query_escapes_values() -> None:
    hostile = Target("ml", 'a"b', "1", "r", timedelta(minutes=2))
    assert render_custom('x{m="{{ model }}"}[{{ interval }}]', hostile) == 'x{m="a\\"b"}[2m]'


def test_unknown_variable_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown variable"):
        render_custom("x{{ modle }}", TARGET)


def test_llm_gauge_templates_take_the_busiest_pods_average() -> None:
    vllm = MetricConventions.model_validate({"server": "vllm"})
    assert queue_depth(TARGET, vllm) == (
        'max(avg_over_time(vllm:num_requests_waiting{namespace="ml", model="fraud", '
        'version="2.1.0"}[30s]))'
    )
    sglang = MetricConventions.model_validate({"server": "sglang"})
    assert kv_cache_usage(TARGET, sglang).startswith("max(avg_over_time(sglang:token_usage{")
    hostile = Target("ml", "fraud", 'x"} or vector(1) #', "abc", timedelta(seconds=30))
    assert 'version="x\\"} or vector(1) #"' in queue_depth(hostile, vllm)


def test_a_server_names_its_series_and_a_written_name_wins() -> None:
    vllm = MetricConventions.model_validate({"server": "vllm", "codeLabel": "code"})
    assert (vllm.requests_total, vllm.code_label) == ("http_requests_total", "code")
    assert vllm.request_duration_seconds == "vllm:e2e_request_latency_seconds"
    assert 'http_requests_total{namespace="ml", model="fraud", version="2.1.0", code=~"5.."}' in (
        error_rate(TARGET, vllm)
    )
    by_python_name = MetricConventions(server="sglang", requests_total="served_total")
    assert by_python_name.requests_total == "served_total"
    assert by_python_name.queue_depth == "sglang:num_queue_reqs"
    assert MetricConventions().requests_total == "model_requests_total"
