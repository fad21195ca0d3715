"""Each check kind: what it reads, and what a look makes of the sums a provider answers.
Missing buckets, a missing side, no data, counts that went down and hostile labels never
pass and never fake evidence."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout.api.judge_checks import Check
from modelrollout.api.judge_status import MAX_BUCKETS, JudgeCheck
from modelrollout.api.prometheus_source import MetricConventions
from modelrollout.engine import sequential
from modelrollout.engine.checks.look import Look
from modelrollout.engine.checks.reads import Matcher, Tallies
from modelrollout.engine.checks.table import KINDS
from modelrollout.engine.sequential import Counts

CONV = MetricConventions()


def check(kind: str, **fields: Any) -> Check:
    return Check.model_validate({"kind": kind, **fields})


def look(c: Check, tallies: Tallies, old: JudgeCheck | None = None) -> Look:
    return KINDS[c.kind].look(c, old, tallies)


def classes(name: str, canary: dict[str, float], stable: dict[str, float]) -> Tallies:
    return {
        **{("canary", name, "buckets", k): v for k, v in canary.items()},
        **{("stable", name, "buckets", k): v for k, v in stable.items()},
    }


def test_every_kind_reads_the_conventions_series_or_the_ones_it_names() -> None:
    def read(c: Check) -> list[tuple[str, str, tuple[Matcher, ...], str | None]]:
        return [(r.part, r.metric, r.matchers, r.by) for r in KINDS[c.kind].reads(c, CONV)]

    assert read(check("errors")) == [
        ("requests", "model_requests_total", (), None),
        ("bad", "model_requests_total", (Matcher("code", "5..", "regex"),), None),
    ]
    assert read(check("latency")) == [
        ("buckets", "model_request_duration_seconds_bucket", (), "le")
    ]
    assert read(check("latency", threshold="250ms")) == [
        ("requests", "model_request_duration_seconds_bucket", (Matcher("le", "+Inf"),), None),
        ("fast", "model_request_duration_seconds_bucket", (Matcher("le", "0.25", "number"),), None),
    ]
    assert read(check("predictions")) == [("buckets", "model_predictions_total", (), "class")]
    assert read(check("predictions", series="score")) == [("buckets", "score_bucket", (), "le")]
    assert read(check("predictions", series="out_total", by="label")) == [
        ("buckets", "out_total", (), "label")
    ]
    assert read(check("ratio")) == [
        ("requests", "model_requests_total", (), None),
        ("bad", "model_output_invalid_total", (), None),
    ]
    assert read(check("ratio", series="clicks", total="shown")) == [
        ("requests", "shown", (), None),
        ("bad", "clicks", (), None),
    ]


def test_a_ratio_where_higher_is_better_rolls_back_a_canary_with_fewer_clicks() -> None:
    def evidence(better: str, canary_clicks: float) -> float:
        c = check("ratio", name="clicks", series="clicks", better=better)
        tallies = {
            ("canary", "clicks", "requests", ""): 1000.0,
            ("canary", "clicks", "bad", ""): canary_clicks,
            ("stable", "clicks", "requests", ""): 1000.0,
            ("stable", "clicks", "bad", ""): 100.0,
        }
        return look(c, tallies).check.evidence

    assert evidence("higher", 30) > 1000, "30 clicks against 100: worse"
    assert evidence("higher", 300) < 1, "more clicks is no evidence against it"
    assert evidence("lower", 300) > 1000, "300 failures against 100: worse"
    assert evidence("lower", 30) < 1


def test_the_mirrored_rate_test_is_the_binomial_likelihood_ratio_too() -> None:
    from scipy import stats

    counts = Counts(100, 3, 900, 60)
    got = sequential.update(sequential.start(), counts, 1 / 1.25, upward=False)
    share = 0.1
    theta0 = sequential.canary_share_of_bad(share, 1 / 1.25)
    for log_ratio, multiple in zip(got, sequential.ALTERNATIVES, strict=True):
        theta = sequential.canary_share_of_bad(share, 1 / 1.25 / multiple)
        expected = stats.binom.logpmf(3, 63, theta) - stats.binom.logpmf(3, 63, theta0)
        assert log_ratio == pytest.approx(expected, rel=1e-9)


def test_a_predictions_look_counts_each_class_and_a_class_new_to_one_side() -> None:
    c = check("predictions")
    first = look(c, classes("predictions", {"a": 50, "b": 50}, {"a": 50, "b": 50}))
    assert first.problem == ""
    assert first.check.buckets == ["a", "b"]
    assert first.check.slots == 4, "two classes and two to spare"
    assert first.check.evidence < 1.5
    assert first.canary_requests == 100

    # The canary invents a class: it joins while a slot is free, and counts as drift.
    drifted = classes("predictions", {"a": 60, "b": 60, "zz": 400}, {"a": 300, "b": 300})
    after = look(c, drifted, first.check)
    assert after.check.buckets == ["a", "b", "zz"]
    assert after.check.canary_counts == [60, 60, 400]
    assert after.check.stable_counts == [300, 300, 0]
    assert after.check.evidence > 1e6
    assert "the largest shift is zz, canary 76.9% vs stable 0.0%" in KINDS["predictions"].describe(
        after.check, 400
    )


def test_a_look_that_cannot_count_says_why_and_keeps_the_evidence() -> None:
    c = check("predictions")
    first = look(c, classes("predictions", {"a": 50, "b": 50}, {"a": 40, "b": 60})).check
    cases = {
        "no predictions counted for both versions yet": classes("predictions", {"a": 9}, {}),
        "a count went down": classes("predictions", {"a": 40, "b": 50}, {"a": 40, "b": 70}),
        "not a short plain name": classes(
            "predictions", {"a": 60, "b\x1b[2J": 60}, {"a": 60, "b\x1b[2J": 60}
        ),
    }
    for said, tallies in cases.items():
        got = look(c, tallies, first)
        assert said in got.problem
        assert got.check == first, "no evidence taken, none lost"
    # Growth on one side only waits, and says nothing is wrong.
    waiting = look(c, classes("predictions", {"a": 70, "b": 50}, {"a": 40, "b": 60}), first)
    assert (waiting.problem, waiting.check) == ("", first)


def test_too_many_classes_are_not_judged() -> None:
    many = {f"c{i}": 1.0 for i in range(MAX_BUCKETS + 1)}
    got = look(check("predictions"), classes("predictions", many, many))
    assert f"more than {MAX_BUCKETS} buckets" in got.problem
    assert got.check.evidence == 1.0


def test_a_latency_histogram_is_judged_on_the_boundaries_both_sides_have() -> None:
    c = check("latency")
    canary = {"0.1": 10.0, "0.25": 30.0, "0.5": 90.0, "+Inf": 100.0, "weird": 5.0}
    stable = {"0.10": 80.0, "0.25": 95.0, "1": 99.0, "+Inf": 100.0}
    got = look(c, classes("latency", canary, stable))
    assert got.problem == ""
    assert got.check.buckets == ["0.1", "0.25"], "0.5 and 1 on one side only; weird is no number"
    assert got.check.canary_requests == 100
    assert got.check.evidence > 100, "70 points fewer answered within 100 ms"
    faster = look(c, classes("latency", stable | {"0.1": 80.0}, canary | {"0.10": 10.0}))
    assert faster.check.evidence < 1, "faster is no reason to roll back"
    no_total = look(c, classes("latency", {"0.1": 1.0}, {"0.1": 1.0}))
    assert 'no le="+Inf" bucket' in no_total.problem


def test_a_latency_threshold_missing_from_the_buckets_is_said() -> None:
    c = check("latency", threshold="300ms")
    tallies = {
        ("canary", "latency", "requests", ""): 40.0,
        ("stable", "latency", "requests", ""): 360.0,
        ("stable", "latency", "fast", ""): 350.0,
    }
    got = look(c, tallies)
    assert "is 300ms one of the histogram's bucket boundaries (le)?" in got.problem
    tallies[("canary", "latency", "fast", "")] = 30.0
    got = look(c, tallies)
    assert got.problem == ""
    assert (got.check.canary_bad, got.check.stable_bad) == (10, 10)


def test_errors_without_a_bad_series_count_none_and_without_requests_wait() -> None:
    c = check("errors")
    tallies = {
        ("canary", "errors", "requests", ""): 40.0,
        ("stable", "errors", "requests", ""): 360.0,
        ("stable", "errors", "bad", ""): 2.0,
    }
    got = look(c, tallies)
    assert (got.check.canary_bad, got.check.stable_bad, got.problem) == (0, 2, "")
    missing = look(c, {("canary", "errors", "requests", ""): 4.0})
    assert missing.problem == "no request counts for both versions yet"


@pytest.mark.parametrize(
    ("server", "ttft", "itl"),
    [
        ("modelServer", "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds"),
        ("vllm", "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds"),
        ("sglang", "sglang:time_to_first_token_seconds", "sglang:inter_token_latency_seconds"),
    ],
)
def test_token_latency_checks_read_their_servers_histograms(
    server: str, ttft: str, itl: str
) -> None:
    """timeToFirstToken and interTokenLatency are latency checks on an LLM server's
    histograms: the server's names unless the check names a series."""
    conv = MetricConventions.model_validate({"server": server})

    def read(c: Check) -> list[tuple[str, str, tuple[Matcher, ...], str | None]]:
        return [(r.part, r.metric, r.matchers, r.by) for r in KINDS[c.kind].reads(c, conv)]

    assert read(check("timeToFirstToken")) == [("buckets", f"{ttft}_bucket", (), "le")]
    assert read(check("interTokenLatency", threshold="50ms")) == [
        ("requests", f"{itl}_bucket", (Matcher("le", "+Inf"),), None),
        ("fast", f"{itl}_bucket", (Matcher("le", "0.05", "number"),), None),
    ]
    assert read(check("timeToFirstToken", series="ttft_seconds")) == [
        ("buckets", "ttft_seconds_bucket", (), "le")
    ]
    assert check("timeToFirstToken").compares_shares()
    assert not check("interTokenLatency", threshold="50ms").compares_shares()


def test_a_time_to_first_token_twice_stable_is_seen_as_slower() -> None:
    """The look of a token-latency check is the latency check's: a canary whose share
    within a boundary falls behind stable's is evidence against it."""
    c = check("timeToFirstToken")
    canary = {"0.1": 10.0, "0.25": 40.0, "+Inf": 100.0}
    stable = {"0.1": 45.0, "0.25": 90.0, "+Inf": 100.0}
    got = look(c, classes("timeToFirstToken", canary, stable))
    assert got.problem == ""
    assert got.check.kind == "timeToFirstToken"
    assert got.check.buckets == ["0.1", "0.25"]
    assert got.check.evidence > 100, "35 points fewer first tokens within 100 ms"
