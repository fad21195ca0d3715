"""A rollout never freezes, whatever Prometheus answers: on the real control plane, with a
stand-in Prometheus scripted to answer what a real one rarely does (+Inf from a ratio
over zero, a 200 without data, a body that is not JSON). The canary pauses with a
message naming what came back, the status keeps being written, and a person's abort
still acts at once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from modelrollout.api.vocabulary import REQUEST_ANNOTATION
from modelrollout.engine.request_token import mint
from testenv.exporter import Traffic
from testenv.fake_prometheus import Answer, FakePrometheus, vector
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario, model_deployment

GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)


def inf_error_rate(query: str) -> Answer:
    """A ratio over zero: the error rate is +Inf; sample size and latency are fine."""
    if "code=~" in query:
        return Answer(200, vector("+Inf"))
    return Answer(200, vector("500" if "increase(" in query else "0.1"))


def inf_sample_size(query: str) -> Answer:
    return Answer(200, vector("+Inf") if "increase(" in query else vector("0"))


def no_data_field(query: str) -> Answer:
    return Answer(200, json.dumps({"status": "success"}))


def not_json(query: str) -> Answer:
    return Answer(200, "<html>maintenance</html>")


@pytest.fixture(
    params=[
        (inf_error_rate, "value is +Inf"),
        (inf_sample_size, "value is +Inf"),
        (no_data_field, "the response had no data"),
        (not_json, "HTTP 200 with 24 bytes of application/json that is not JSON"),
    ],
    ids=["inf-error-rate", "inf-sample-size", "no-data", "not-json"],
)
def bad(request: pytest.FixtureRequest) -> Iterator[tuple[FakePrometheus, str]]:
    script, says = request.param
    fake = FakePrometheus(lambda _: Answer(200, vector("0")))
    with fake.running():
        fake.script = script
        yield fake, says


def test_bad_answers_pause_with_their_cause_and_an_abort_still_acts(
    make_scenario: Callable[..., Scenario], bad: tuple[FakePrometheus, str]
) -> None:
    fake, says = bad
    s = make_scenario("odd")
    s.traffic("1.0.0", GOOD)
    analysis: dict[str, Any] = model_deployment("odd", "1.0.0", fake.url)["spec"]["analysis"]
    s.create("1.0.0", analysis=analysis)
    s.wait_healthy("1.0.0")
    s.set_version("2.0.0")
    status = s.wait_status(
        lambda st: st.get("phase") == "Paused" and (st.get("analysis") or {}).get("errors", 0) >= 2,
        "paused by the bad answers",
    )
    assert fake.queries, "the operator asked the stand-in Prometheus"
    assert says in status["analysis"]["last"][0]["message"]
    assert status["analysis"]["last"][0]["outcome"] == "Error"
    assert "value" not in status["analysis"]["last"][0], "no non-finite value in the status"
    assert says in status["message"]
    assert status["canary"]["weight"] == 20, "held where it was: no step taken on bad data"
    assert status["stable"]["version"] == "1.0.0"
    # The status keeps being written while the answers stay bad (errors go on counting).
    s.wait_status(
        lambda st: (st.get("analysis") or {}).get("errors", 0) > status["analysis"]["errors"],
        "another analysis run recorded",
    )

    asked = time.monotonic()
    s.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        s.namespace,
        PLURAL,
        s.name,
        {"metadata": {"annotations": {REQUEST_ANNOTATION: mint("abort", datetime.now(UTC))}}},
    )
    # Within a few ticks (2 s each), not after a crashed tick's 60 s backoff.
    rolled = s.wait_status(lambda st: st.get("phase") == "RolledBack", "aborted", timeout=20)
    print(f"abort acted after {time.monotonic() - asked:.1f}s")
    assert rolled["stable"]["version"] == "1.0.0"
    s.wait_route_weight(0)
    assert [h["outcome"] for h in rolled["history"]] == ["RolledBack"]
