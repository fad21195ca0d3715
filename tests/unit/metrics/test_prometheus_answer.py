"""Every Prometheus answer has a shape we can name: one number, no data, or an error
saying what came back. Table cases for each shape, then generated answers over HTTP
through the provider and into the engine."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from modelrollout.api.spec import Metric, PrometheusSource
from modelrollout.api.vocabulary import Outcome, Phase, Reason
from modelrollout.engine.model import Request
from modelrollout.metrics.classify import classify, measured
from modelrollout.metrics.endpoints import EndpointPolicy
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.metrics.prometheus_answer import MAX_ERROR, read_answer
from modelrollout.metrics.prometheus_answer import Answer as Got
from modelrollout.metrics.provider import ProviderError
from testenv.fake_prometheus import Answer, FakePrometheus, error, success, vector
from testenv.tally import tally
from unit.engine.sim import T0, World, healthy_world, spec

JSON = "application/json"
METRIC = Metric(name="error-rate", template="errorRate", max=0.01)

LOOPBACK = EndpointPolicy.parse(["127.0.0.0/8"])  # the test's servers


ok = success


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (200, vector("0.25"), 0.25),
        (200, vector("-3"), -3.0),
        (200, vector("1e308"), 1e308),
        (200, ok("scalar", [1.0, "7"]), 7.0),
        (200, ok("vector", []), None),
    ],
)
def test_numbers_and_no_data(code: int, body: str, expected: float | None) -> None:
    assert read_answer(Got(code, JSON, body)) == expected


def test_nan_is_a_number_the_shared_rule_calls_inconclusive() -> None:
    value = read_answer(Got(200, JSON, vector("NaN")))
    assert value is not None
    assert math.isnan(value)
    assert classify(METRIC, value, T0).outcome == Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("code", "body", "says"),
    [
        (200, vector("+Inf"), "value is +Inf"),
        (200, vector("-Inf"), "value is -Inf"),
        (200, vector("many"), "value is a string that is not a number"),
        (200, vector(0.5), "not a string number"),
        (200, vector("1", "2"), "query returned 2 series"),
        (200, ok("matrix", []), "range vector (matrix)"),
        (200, ok("string", [1.0, "x"]), "query returned a string"),
        (200, ok("scalar", "7"), "not a [time, value] pair"),
        (200, ok("vector", {"a": 1}), "not a list"),
        (200, ok("histogram", []), "no known result type"),
        (200, json.dumps({"status": "success"}), "the response had no data"),
        (200, json.dumps({"status": "success", "data": {"result": []}}), "no known result type"),
        (200, ok("vector", [{}]), "the series is a JSON object without a value"),
        (200, json.dumps({"status": "pending"}), "status is not 'success'"),
        (200, "[1, 2]", "a JSON array, not an object"),
        (200, "<html>gateway</html>", "HTTP 200 with 20 bytes of application/json that"),
        (400, error("bad_data", "parse error"), "refused the query (HTTP 400, bad_data): 'parse"),
        (503, error("unavailable", "x"), "Prometheus failed (HTTP 503, unavailable)"),
        (502, "Bad Gateway", "HTTP 502 with 11 bytes of application/json that is not JSON"),
        (404, json.dumps({"detail": "no"}), "answered HTTP 404 with 16 bytes of application/json"),
        (500, error("x\x1b[31m", "a\nb"), "failed (HTTP 500, unknown errorType): 'a b'"),
    ],
)  # fmt: skip
def test_every_other_shape_is_an_error_saying_what_came_back(
    code: int, body: str, says: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        read_answer(Got(code, JSON, body))
    assert says in str(raised.value)


SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"


@pytest.mark.parametrize(
    ("code", "content_type", "body"),
    [
        (200, "text/plain", SECRET),
        (200, "application/json", json.dumps({"status": SECRET})),
        (200, "application/json", json.dumps({"status": "success", "data": SECRET})),
        (200, "application/json", ok(SECRET, [])),
        (200, "application/json", ok("vector", [{"metric": {}, "value": [1, SECRET]}])),
        (200, "application/json", ok("vector", [{"metric": {}, "value": SECRET}])),
        (200, "application/json", ok("vector", [SECRET])),
        (200, "application/json", ok("scalar", SECRET)),
        (200, "application/json", json.dumps([SECRET])),
        (403, "application/json", json.dumps({"error": SECRET, "status": "error"})),
        (200, f"text/{SECRET}", "{"),
        (500, "text/html; charset=" + SECRET, SECRET),
    ],
)
def test_no_answer_is_echoed(code: int, content_type: str, body: str) -> None:
    """What a foreign endpoint answered is named by status, type, size and shape, never
    shown: only a Prometheus-shaped error (status error with an errorType) is quoted."""
    with pytest.raises(ProviderError) as raised:
        read_answer(Got(code, content_type, body))
    assert "wJalr" not in str(raised.value)


def test_a_prometheus_error_is_bounded_and_printable() -> None:
    body = error("bad_data", "parse error \x1b]8;;http://x\x07" + "y" * 500)
    with pytest.raises(ProviderError) as raised:
        read_answer(Got(400, JSON, body))
    message = str(raised.value)
    assert "\x1b" not in message
    assert "\x07" not in message
    assert len(message) < MAX_ERROR + 100


# -- generated answers, served over HTTP, through the provider and the engine -----------

_numbers = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e308", "-1e308", "0", "-0.5", "0.001", "1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
_values = st.one_of(
    _numbers, st.floats(), st.integers(), st.none(), st.booleans(), st.lists(st.integers())
)
_samples = st.one_of(
    st.tuples(st.floats(0, 2e9), _values).map(list),
    st.lists(_values, max_size=3),
    _values,
)
_series = st.one_of(
    st.fixed_dictionaries({"metric": st.just({}), "value": _samples}),
    st.fixed_dictionaries({"metric": st.just({})}),
    _values,
)
_results = st.one_of(st.lists(_series, max_size=3), _samples, _values)
_data = st.one_of(
    st.fixed_dictionaries(
        {
            "resultType": st.sampled_from(["vector", "scalar", "matrix", "string", "x"]),
            "result": _results,
        }
    ),
    st.fixed_dictionaries({"result": _results}),
    _values,
)
_objects = st.one_of(
    st.fixed_dictionaries({"status": st.sampled_from(["success", "error", "x"]), "data": _data}),
    st.fixed_dictionaries({"status": st.just("success")}),
    st.fixed_dictionaries(
        {
            "status": st.just("error"),
            "errorType": st.text(max_size=8),
            "error": st.text(max_size=20),
        }
    ),
)
_finite = st.one_of(st.floats(-1.0, 1.0), st.floats(allow_nan=False, allow_infinity=False))
_well_formed = st.one_of(
    st.lists(_finite.map(repr), max_size=2).map(lambda values: vector(*values)),
    st.sampled_from(["0", "0.001", "0.01", "0.5", "NaN", "+Inf", "-1"]).map(vector),
    _finite.map(lambda v: ok("scalar", [1.0, repr(v)])),
)
_bodies = st.one_of(
    _well_formed,
    _well_formed,
    _objects.map(json.dumps),
    _values.map(json.dumps),
    st.text(max_size=40),
    _objects.map(lambda o: json.dumps(o)[: len(json.dumps(o)) // 2]),  # cut short
)
_slow = st.sampled_from([False] * 19 + [True])  # one in twenty outlasts the timeout
ANSWERS = st.tuples(st.sampled_from([200] * 8 + [400, 422, 500, 503]), _bodies, _slow)


@pytest.fixture(scope="module")
def fake_prometheus() -> Iterator[FakePrometheus]:
    with FakePrometheus(lambda _: Answer(200, "{}")).running() as fake:
        yield fake


COUNTS = tally("generated Prometheus answers by outcome")


@seed(20261124)
@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=ANSWERS)
def test_generated_answers_are_classified_and_never_promote(
    fake_prometheus: FakePrometheus, answer: tuple[int, str, bool]
) -> None:
    """Over HTTP with a short timeout (slow answers time out): the provider returns a
    number, none, or a ProviderError, never another exception; a canary judged on the
    measurement advances only on a finite passing value, and its status always encodes
    as strict JSON (no NaN or Infinity for the API server to refuse)."""
    code, body, slow = answer
    fake_prometheus.script = lambda _: Answer(code, body, 0.5 if slow else 0.0)
    provider = PrometheusProvider(
        PrometheusSource(url=fake_prometheus.url, timeout="200ms"), policy=LOOPBACK
    )
    try:
        value = provider.value("q")
    except ProviderError as exc:
        measurement = measured(METRIC, Outcome.ERROR, str(exc), T0)
    else:
        measurement = classify(METRIC, value, T0)
    finally:
        provider.close()
    COUNTS[measurement.outcome.value] += 1
    if measurement.outcome == Outcome.SUCCESSFUL:
        assert measurement.value is not None
        assert math.isfinite(measurement.value)
        assert measurement.value <= 0.01

    world = waiting_canary()
    before = len(world.events)
    world.tick(measurements=(measurement,))
    json.dumps(world.status.wire(), allow_nan=False)
    advanced = Reason.STEP_ADVANCED in world.reasons()[before:]
    assert advanced == (measurement.outcome == Outcome.SUCCESSFUL)
    if measurement.outcome != Outcome.SUCCESSFUL:
        world.tick(request=Request("abort", "abort:1"))  # a person's abort still acts
        assert world.status.phase == Phase.ROLLED_BACK


def test_generated_answers_were_all_kinds(fake_prometheus: FakePrometheus) -> None:
    """How the generated answers came out (printed at the end of the run)."""
    assert sum(COUNTS.values()) >= 1000
    assert {"Successful", "Error", "Inconclusive"} <= set(COUNTS)


def waiting_canary() -> World:
    """A canary at 10% whose pause has run out: one successful measurement ends the step."""
    world = healthy_world()
    world.spec = spec("2.0.0")
    world.tick()
    world.tick()  # canary ready: weight 10
    world.tick(advance=timedelta(minutes=2))  # step 2, the pause...
    world.tick(advance=timedelta(minutes=2))  # ...has run out and waits for a pass
    assert world.status.current_step == 1
    assert world.status.canary is not None
    assert world.status.canary.weight == 10
    return world


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (Answer(200, vector("0.5"), slow=0.5), "did not answer within 0.2s"),
        (Answer(200, "<html>maintenance</html>"), "HTTP 200 with 24 bytes of"),
        (Answer(503, error("unavailable", "too many queries")), "Prometheus failed (HTTP 503"),
    ],
    ids=["read-timeout", "not-json", "http-error"],
)
def test_the_provider_says_what_happened_over_http(
    fake_prometheus: FakePrometheus, answer: Answer, says: str
) -> None:
    fake_prometheus.script = lambda _: answer
    provider = PrometheusProvider(
        PrometheusSource(url=fake_prometheus.url, timeout="200ms"), policy=LOOPBACK
    )
    with pytest.raises(ProviderError) as raised:
        provider.value("q")
    provider.close()
    assert says in str(raised.value)
    assert "unreachable" not in str(raised.value)


def test_a_redirect_is_not_followed(fake_prometheus: FakePrometheus) -> None:
    """The spec's URL and no other: a redirect (to a metadata server, say) is an error."""
    with FakePrometheus(lambda _: Answer(200, vector("0.001"))).running() as elsewhere:
        moved = (("Location", f"{elsewhere.url}/api/v1/query?query=q"),)
        fake_prometheus.script = lambda _: Answer(302, "", headers=moved)
        provider = PrometheusProvider(PrometheusSource(url=fake_prometheus.url), policy=LOOPBACK)
        try:
            with pytest.raises(ProviderError, match=r"answered HTTP 302, a redirect: not followed"):
                provider.value("q")
        finally:
            provider.close()
        assert elsewhere.queries == []
