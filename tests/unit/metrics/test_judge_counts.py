"""The judge's counts: one PromQL query (label values escaped, the latency bucket found
however its exporter wrote `le`), its answer read by labels, and a look made of it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from modelrollout.api.spec import Analysis, MetricConventions, ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.engine.sequential import Counts
from modelrollout.metrics.compare import look
from modelrollout.metrics.prometheus_answer import Answer as Got
from modelrollout.metrics.prometheus_answer import read_labelled
from modelrollout.metrics.promql import bucket_matcher, judge_counts
from modelrollout.metrics.provider import Comparison, ProviderError, Tallies, Target
from modelrollout.metrics.reads import judge_look

WINDOW = timedelta(seconds=95)
CANARY = Target("ml", "fraud", "2.0.0", "b", WINDOW)
STABLE = Target("ml", "fraud", "1.0.0", "a", WINDOW)
SINCE = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "matches", "misses"),
    [
        (0.5, ["0.5", "0.50", "0.500"], ["0.05", "0.55", "5", "0.5e0"]),
        (1.0, ["1", "1.0", "1.00"], ["10", "1.5", "0.1", "11.0"]),
        (0.025, ["0.025"], ["0.0250x", "0.25"]),
        (2.5, ["2.5"], ["25", "2.05"]),
    ],
)
def test_the_bucket_matcher_finds_the_threshold_however_le_was_written(
    seconds: float, matches: list[str], misses: list[str]
) -> None:
    pattern = re.compile(bucket_matcher(seconds))
    assert all(pattern.fullmatch(le) for le in matches)
    assert not any(pattern.fullmatch(le) for le in misses)


def test_one_query_counts_both_sides_by_kind_over_the_window() -> None:
    query = judge_counts(Comparison(CANARY, STABLE), MetricConventions())
    assert query.count(" or ") == 3
    assert '"side", "canary"' in query
    assert '"side", "stable"' in query
    assert '"kind", "requests"' in query
    assert '"kind", "errors"' in query
    assert "[1m35s]" not in query
    assert "[95s]" in query
    assert 'version="2.0.0"' in query
    assert 'version="1.0.0"' in query
    assert 'code=~"5.."' in query
    assert "_bucket" not in query, "no latency threshold, no histogram"


def test_a_latency_threshold_adds_the_histograms_count_and_its_bucket() -> None:
    query = judge_counts(Comparison(CANARY, STABLE, 0.5), MetricConventions())
    assert query.count(" or ") == 7
    assert 'model_request_duration_seconds_bucket{namespace="ml"' in query
    assert 'le="+Inf"' in query
    assert 'le=~"0\\\\.50*"' in query  # the regex's backslash, escaped for PromQL


def test_label_values_cannot_end_their_quotes() -> None:
    hostile = Target("ml", 'a"}) or vector(1) or sum(x{a="', '1"', "r", WINDOW)
    query = judge_counts(Comparison(hostile, STABLE), MetricConventions())
    assert 'model="a\\"}) or vector(1) or sum(x{a=\\""' in query
    assert 'version="1\\""' in query


def answer(*series: tuple[dict[str, str], str]) -> str:
    result = [{"metric": m, "value": [1.0, v]} for m, v in series]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def test_a_labelled_answer_is_read_by_its_labels_and_nan_is_no_data() -> None:
    body = answer(
        ({"side": "canary", "kind": "requests"}, "40.5"),
        ({"side": "stable", "kind": "requests"}, "NaN"),
    )
    assert read_labelled(Got(200, "application/json", body), ("side", "kind")) == {
        ("canary", "requests"): 40.5
    }
    scalar = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}})
    with pytest.raises(ProviderError, match="expected a vector"):
        read_labelled(Got(200, "application/json", scalar), ("side",))
    with pytest.raises(ProviderError, match="without labels or value"):
        read_labelled(
            Got(200, "application/json", answer().replace("[]", '[{"value": [1, "2"]}]')),
            ("side",),
        )


class Provider:
    def __init__(self, tallies: Tallies | Exception) -> None:
        self.answer = tallies

    def tallies(self, comparison: Comparison) -> Tallies:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_look_counts_no_error_series_as_no_errors() -> None:
    tallies = {
        ("canary", "requests"): 40.0,
        ("stable", "requests"): 360.0,
        ("stable", "errors"): 2.0,
    }
    reading = look(Provider(tallies), Comparison(CANARY, STABLE), SINCE)  # type: ignore[arg-type]
    assert reading.counts == {"errors": Counts(40, 0, 360, 2)}
    assert reading.since == SINCE
    assert not reading.error
    assert reading.problem == ""


def test_a_look_without_a_side_has_no_counts_and_says_why() -> None:
    reading = look(Provider({("canary", "requests"): 4.0}), Comparison(CANARY, STABLE), SINCE)  # type: ignore[arg-type]
    assert reading.counts is None
    assert not reading.error
    assert "no request counts for both versions yet (canary 2.0.0, stable 1.0.0)" in reading.problem


def test_a_missing_latency_bucket_is_said_and_the_errors_are_still_counted() -> None:
    tallies = {
        ("canary", "requests"): 40.0,
        ("stable", "requests"): 360.0,
        ("canary", "timed"): 40.0,
        ("stable", "timed"): 360.0,
        ("stable", "fast"): 350.0,
    }
    reading = look(Provider(tallies), Comparison(CANARY, STABLE, 0.3), SINCE)  # type: ignore[arg-type]
    assert reading.counts == {"errors": Counts(40, 0, 360, 0)}
    assert "is 0.3s one of the histogram's bucket boundaries (le)?" in reading.problem
    tallies[("canary", "fast")] = 30.0
    reading = look(Provider(tallies), Comparison(CANARY, STABLE, 0.3), SINCE)  # type: ignore[arg-type]
    assert reading.counts is not None
    assert reading.counts["latency"] == Counts(40, 10, 360, 10)


def test_an_unreachable_prometheus_is_an_error_look() -> None:
    reading = look(
        Provider(ProviderError("Prometheus at x unreachable")), Comparison(CANARY, STABLE), SINCE
    )  # type: ignore[arg-type]
    assert reading.error
    assert reading.counts is None
    assert reading.problem == "Prometheus at x unreachable"
    buggy = look(Provider(KeyError("k")), Comparison(CANARY, STABLE), SINCE)  # type: ignore[arg-type]
    assert buggy.error
    assert "KeyError" in buggy.problem


def test_a_look_is_read_when_due_over_the_window_since_the_judge_began() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"version": "2.0.0"},
            "template": {},
            "strategy": {"canary": {"steps": [{"setWeight": 5}, {"pause": {}}]}},
            "traffic": {"gatewayAPI": {"httpRoute": "r"}},
            "analysis": {"prometheus": {"url": "http://p"}, "judge": {}},
        }
    )
    status = ModelDeploymentStatus.model_validate(
        {
            "stable": {"version": "1.0.0", "revision": "a", "weight": 95},
            "canary": {"version": "2.0.0", "revision": "b", "weight": 5},
            "weightSetAt": SINCE.isoformat(),
        }
    )
    asked: list[Comparison] = []

    class Recording(Provider):
        def tallies(self, comparison: Comparison) -> Tallies:
            asked.append(comparison)
            return super().tallies(comparison)

    def provider(analysis: Analysis) -> Recording:
        return Recording({("canary", "requests"): 5.0, ("stable", "requests"): 95.0})

    early = SINCE + timedelta(seconds=14)  # one scrape (15s) after the weight was set
    assert judge_look(provider, spec, status, "ml", "fraud", early) is None  # type: ignore[arg-type]
    reading = judge_look(provider, spec, status, "ml", "fraud", SINCE + timedelta(seconds=20))  # type: ignore[arg-type]
    assert reading is not None
    assert reading.since == SINCE
    assert reading.counts == {"errors": Counts(5, 0, 95, 0)}
    assert [(c.canary.version, c.stable.version, c.canary.window) for c in asked] == [
        ("2.0.0", "1.0.0", timedelta(seconds=20))
    ]

    assert status.canary is not None
    status.canary.version = "1.0.0"  # a template change under the same version label
    same = judge_look(provider, spec, status, "ml", "fraud", SINCE + timedelta(seconds=40))  # type: ignore[arg-type]
    assert same is not None
    assert same.counts is None
    assert not same.error
    assert "both report version 1.0.0" in same.problem
    assert len(asked) == 1, "nothing to ask Prometheus"
