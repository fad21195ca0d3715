"""The judge's reads: the engine's plan carried out as one PromQL query (label values
escaped, the latency bucket found however its exporter wrote `le`, a series born after
the judge began counted from zero), its answer read by labels, and a look made of it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from modelrollout.api.spec import Analysis, ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.engine.checks.reads import LookPlan, Matcher, SeriesRead, Side, Tallies
from modelrollout.metrics.prometheus_answer import Answer as Got
from modelrollout.metrics.prometheus_answer import read_labelled
from modelrollout.metrics.promql import bucket_matcher, judge_sums
from modelrollout.metrics.provider import ProviderError
from modelrollout.metrics.reads import judge_look

WINDOW = timedelta(seconds=95)
SINCE = datetime(2026, 11, 24, tzinfo=UTC)
ERRORS = (
    SeriesRead("errors", "requests", "model_requests_total"),
    SeriesRead("errors", "bad", "model_requests_total", (Matcher("code", "5..", "regex"),)),
)


def plan(*reads: SeriesRead, canary: str = "2.0.0") -> LookPlan:
    return LookPlan(SINCE, WINDOW, Side(canary, "b"), Side("1.0.0", "a"), reads)


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


def test_one_query_sums_each_read_for_both_sides_over_the_window() -> None:
    query = judge_sums(plan(*ERRORS), "ml", "fraud")
    assert query.count(" or ") == 3 + 4, "four sums, each a union of old and new series"
    for tag in ('"side", "canary"', '"side", "stable"', '"part", "requests"', '"part", "bad"'):
        assert tag in query
    assert '"check", "errors"' in query
    assert "offset 1m35s" not in query, "the window in seconds, as PromQL takes it"
    assert "increase(" not in query, "exact differences: increase() extrapolates"
    assert (
        '(model_requests_total{namespace="ml", model="fraud", version="2.0.0"} - '
        'model_requests_total{namespace="ml", model="fraud", version="2.0.0"} offset 95s)'
    ) in query, "growth is the value now minus the value when the judge began"
    assert 'version="2.0.0"' in query
    assert 'version="1.0.0"' in query
    assert 'code=~"5.."' in query
    assert "offset 95s" in query, "a series born since the judge began counts from zero"


def test_a_grouped_read_keeps_its_label_as_the_bucket() -> None:
    query = judge_sums(
        plan(SeriesRead("p", "buckets", "model_predictions_total", by="class")), "ml", "m"
    )
    assert "sum by (class) (" in query
    assert "label_replace(sum by (class)" in query
    assert '"bucket", "$1", "class", "(.*)"' in query


def test_a_number_matcher_finds_the_threshold_bucket() -> None:
    fast = SeriesRead("latency", "fast", "d_bucket", (Matcher("le", "0.5", "number"),))
    query = judge_sums(plan(fast), "ml", "fraud")
    assert 'le=~"0\\\\.50*"' in query  # the regex's backslash, escaped for PromQL


def test_label_values_cannot_end_their_quotes() -> None:
    hostile = LookPlan(SINCE, WINDOW, Side('1"', "r"), Side("1.0.0", "a"), ERRORS)
    query = judge_sums(hostile, 'a"}) or vector(1) or sum(x{a="', "m")
    assert 'namespace="a\\"}) or vector(1) or sum(x{a=\\""' in query
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
        self.asked: list[LookPlan] = []

    def tallies(self, plan: LookPlan, namespace: str, model: str) -> Tallies:
        self.asked.append(plan)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": {"version": "2.0.0"},
        "template": {},
        "strategy": {"canary": {"steps": [{"setWeight": 5}, {"pause": {}}]}},
        "traffic": {"gatewayAPI": {"httpRoute": "r"}},
        "analysis": {"prometheus": {"url": "http://p"}, "judge": {}},
    }
)


def judged() -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate(
        {
            "stable": {"version": "1.0.0", "revision": "a", "weight": 95},
            "canary": {"version": "2.0.0", "revision": "b", "weight": 5},
            "weightSetAt": SINCE.isoformat(),
        }
    )


def test_a_look_is_read_when_due_over_the_window_since_the_judge_began() -> None:
    answer = Provider({("canary", "errors", "requests", ""): 5.0})

    def provider(analysis: Analysis) -> Provider:
        return answer

    status = judged()
    early = SINCE + timedelta(seconds=14)  # one scrape (15s) after the weight was set
    assert judge_look(provider, SPEC, status, "ml", "fraud", early) is None  # type: ignore[arg-type]
    reading = judge_look(provider, SPEC, status, "ml", "fraud", SINCE + timedelta(seconds=20))  # type: ignore[arg-type]
    assert reading is not None
    assert reading.since == SINCE
    assert reading.tallies == {("canary", "errors", "requests", ""): 5.0}
    assert [(p.canary.version, p.stable.version, p.window) for p in answer.asked] == [
        ("2.0.0", "1.0.0", timedelta(seconds=20))
    ]
    assert [(r.check, r.part) for r in answer.asked[0].reads] == [
        ("errors", "requests"),
        ("errors", "bad"),
    ], "without checks, the judge compares errors"

    assert status.canary is not None
    status.canary.version = "1.0.0"  # a template change under the same version label
    same = judge_look(provider, SPEC, status, "ml", "fraud", SINCE + timedelta(seconds=40))  # type: ignore[arg-type]
    assert same is not None
    assert same.tallies is None
    assert not same.error
    assert "both report version 1.0.0" in same.problem
    assert len(answer.asked) == 1, "nothing to ask Prometheus"


def test_an_unreachable_prometheus_is_an_error_look() -> None:
    now = SINCE + timedelta(seconds=20)
    for failure, said in (
        (ProviderError("Prometheus at x unreachable"), "Prometheus at x unreachable"),
        (KeyError("k"), "KeyError"),
    ):
        answer = Provider(failure)
        reading = judge_look(lambda a, p=answer: p, SPEC, judged(), "ml", "fraud", now)  # type: ignore[misc]
        assert reading is not None
        assert reading.error
        assert reading.tallies is None
        assert said in reading.problem
