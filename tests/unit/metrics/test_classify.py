"""Reading Prometheus answers into numbers, classifying numbers, and a whole analysis run
against a scripted provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelrollout.api.spec import Analysis, Metric, PrometheusSource
from modelrollout.api.status import Measurement
from modelrollout.api.vocabulary import Outcome
from modelrollout.metrics.classify import classify, measured
from modelrollout.metrics.measure import measure
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.metrics.prometheus_answer import single_value as read_result
from modelrollout.metrics.provider import ProviderError, Target

NOW = datetime(2026, 11, 22, tzinfo=UTC)
METRIC = Metric(name="error-rate", template="errorRate", max=0.01)


def series(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1700000000.0, value]}


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ([series("0.001")], Outcome.SUCCESSFUL),
        ([series("0.5")], Outcome.FAILED),
        ([], Outcome.INCONCLUSIVE),
        ([series("NaN")], Outcome.INCONCLUSIVE),
        ([series("+Inf")], Outcome.ERROR),
        ([series("-Inf")], Outcome.ERROR),
        ([series("0.001", pod="a"), series("0.002", pod="b")], Outcome.ERROR),
        ([1700000000.0, "0.002"], Outcome.SUCCESSFUL),  # a scalar result
        ([{"metric": {}}], Outcome.ERROR),
        ({"unexpected": "shape"}, Outcome.ERROR),
    ],
)
def test_classify(result: Any, outcome: Outcome) -> None:
    assert _classify(result).outcome == outcome


def single_value(result: Any) -> float | None:
    """A scalar is [time, value]; anything else is read as a vector's result."""
    scalar = isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict)
    return read_result("scalar" if scalar else "vector", result)


def _classify(result: Any) -> Measurement:
    """What the Prometheus provider's answer becomes: an Error when it is no number."""
    try:
        value = single_value(result)
    except ProviderError as exc:
        return measured(METRIC, Outcome.ERROR, str(exc), NOW)
    return classify(METRIC, value, NOW)


def test_classification_keeps_value_and_threshold() -> None:
    m = _classify([series("0.5")])
    assert (m.value, m.max, m.metric) == (0.5, 0.01, "error-rate")
    assert "above the maximum" in m.message


@pytest.mark.parametrize("raw", ["NaN", "+Inf", "-Inf"])
def test_non_finite_values_are_recorded_without_a_value(raw: str) -> None:
    assert _classify([series(raw)]).value is None


def test_an_answer_that_is_no_number_says_what_came_back() -> None:
    with pytest.raises(ProviderError, match="value is a string that is not a number"):
        single_value([series("many")])


class Scripted:
    """Prometheus's queries and answer reading, with answers from a table (or raises)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.queries: list[str] = []
        self.prometheus = PrometheusProvider(PrometheusSource(url="http://p:9090"))

    def metric_query(self, metric: Metric, target: Target) -> str:
        return self.prometheus.metric_query(metric, target)

    def sample_size_query(self, target: Target) -> str:
        return self.prometheus.sample_size_query(target)

    def value(self, query: str) -> float | None:
        self.queries.append(query)
        for needle, answer in self.answers.items():
            if needle in query:
                if isinstance(answer, Exception):
                    raise answer
                return single_value(answer)
        return None


ANALYSIS = Analysis.model_validate(
    {
        "prometheus": {"url": "http://p:9090"},
        "minSampleSize": 50,
        "metrics": [
            {"name": "error-rate", "template": "errorRate", "max": 0.01},
            {"name": "latency", "template": "latencyP99", "max": 0.25},
        ],
    }
)
TARGET = Target("ml", "m", "2", "r", timedelta(seconds=30))


def test_a_passing_run() -> None:
    provider = Scripted(
        {
            "increase(": [series("120")],
            "code=~": [series("0")],
            "histogram_quantile": [series("0.1")],
        }
    )
    run = measure(provider, ANALYSIS, TARGET, NOW)
    assert [m.outcome for m in run] == [Outcome.SUCCESSFUL, Outcome.SUCCESSFUL]


def test_too_few_requests_is_inconclusive_for_every_metric() -> None:
    provider = Scripted({"increase(": [series("12")], "code=~": [series("0")]})
    run = measure(provider, ANALYSIS, TARGET, NOW)
    assert {m.outcome for m in run} == {Outcome.INCONCLUSIVE}
    assert "fewer than minSampleSize 50" in run[0].message
    assert len(provider.queries) == 1, "no metric is judged on too small a sample"


def test_no_traffic_at_all_is_inconclusive() -> None:
    run = measure(Scripted({}), ANALYSIS, TARGET, NOW)
    assert {m.outcome for m in run} == {Outcome.INCONCLUSIVE}


def test_unreachable_prometheus_is_an_error_not_a_failure() -> None:
    down = ProviderError("Prometheus at http://p:9090 unreachable: refused")
    run = measure(Scripted({"": down}), ANALYSIS, TARGET, NOW)
    assert {m.outcome for m in run} == {Outcome.ERROR}
    assert "unreachable" in run[0].message


def test_a_bad_query_is_an_error_for_that_metric_only() -> None:
    provider = Scripted(
        {
            "increase(": [series("500")],
            "code=~": [series("0.0")],
            "histogram_quantile": ProviderError("Prometheus refused the query: parse error"),
        }
    )
    run = measure(provider, ANALYSIS, TARGET, NOW)
    assert [m.outcome for m in run] == [Outcome.SUCCESSFUL, Outcome.ERROR]
