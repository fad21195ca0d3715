"""Generated ModelDeployments (seeded): each one is refused with a readable message, by
`kubectl modelrollout lint` and by the API server alike, or accepted by both and then
handled by the operator's reconcile with the serving version untouched."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import ConditionType
from modelrollout.cli.lint import lint_document
from modelrollout.engine.conditions import condition
from modelrollout.reconcile import reconcile
from testenv.exporter import Traffic
from testenv.operator import OperatorProcess
from testenv.rollouts import GROUP, PLURAL, VERSION, Scenario, condition_true, model_deployment
from testenv.tally import tally
from unit.fake_adapters import Cluster, adapters

GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BASE = model_deployment("fuzz", "1.0.0", "http://prometheus.test:9090")
BASE["spec"]["analysis"]["prometheus"]["scrapeInterval"] = "1s"

# Where a mutation lands: every field of the spec, a few levels of lists, and unknown keys.
PATHS: list[tuple[Any, ...]] = [
    ("metadata", "name"),
    ("spec", "replicas"),
    ("spec", "model", "version"),
    ("spec", "model", "uri"),
    ("spec", "model", "unknownField"),
    ("spec", "template"),
    ("spec", "template", "spec", "containers"),
    ("spec", "service", "port"),
    ("spec", "service", "targetPort"),
    ("spec", "strategy"),
    ("spec", "strategy", "canary", "steps"),
    ("spec", "strategy", "canary", "steps", 0),
    ("spec", "strategy", "canary", "steps", 0, "setWeight"),
    ("spec", "strategy", "canary", "steps", 1, "pause"),
    ("spec", "strategy", "canary", "steps", 1, "pause", "duration"),
    ("spec", "strategy", "canary", "steps", 0, "mirror"),  # a second kind on one step
    ("spec", "strategy", "canary", "scaleDownDelay"),
    ("spec", "strategy", "canary", "capacity"),
    ("spec", "strategy", "canary", "capacity", "maxSurge"),
    ("spec", "strategy", "blueGreen"),
    ("spec", "strategy", "blueGreen", "autoPromotionAfter"),
    ("spec", "strategy", "blueGreen", "previewTraffic"),
    ("spec", "strategy", "blueGreen", "capacity"),
    ("spec", "traffic"),
    ("spec", "traffic", "gatewayAPI", "httpRoute"),
    ("spec", "traffic", "gatewayAPI", "grpcRoute"),  # beside httpRoute: one too many
    ("spec", "traffic", "istio"),
    ("spec", "traffic", "istio", "virtualService"),
    ("spec", "traffic", "replicaRatio"),
    ("spec", "traffic", "replicaRatio", "service"),
    ("spec", "analysis"),
    ("spec", "analysis", "interval"),
    ("spec", "analysis", "window"),
    ("spec", "analysis", "failureLimit"),
    ("spec", "analysis", "consecutiveErrorLimit"),
    ("spec", "analysis", "minSampleSize"),
    ("spec", "analysis", "metrics"),
    ("spec", "analysis", "judge"),
    ("spec", "analysis", "judge", "falseRollbackRate"),
    ("spec", "analysis", "judge", "checks"),
    ("spec", "analysis", "judge", "checks", 0, "kind"),
    ("spec", "analysis", "judge", "checks", 0, "name"),
    ("spec", "analysis", "judge", "checks", 0, "tolerance"),
    ("spec", "analysis", "judge", "checks", 0, "threshold"),
    ("spec", "analysis", "judge", "checks", 0, "series"),
    ("spec", "analysis", "judge", "checks", 0, "by"),
    ("spec", "analysis", "judge", "checks", 0, "total"),
    ("spec", "analysis", "judge", "checks", 0, "better"),
    ("spec", "analysis", "metrics", 0, "name"),
    ("spec", "analysis", "metrics", 0, "template"),
    ("spec", "analysis", "metrics", 0, "query"),
    ("spec", "analysis", "metrics", 0, "max"),
    ("spec", "analysis", "metrics", 0, "min"),
    ("spec", "analysis", "prometheus", "url"),
    ("spec", "analysis", "prometheus", "url"),
    ("spec", "analysis", "prometheus", "timeout"),
    ("spec", "analysis", "prometheus", "scrapeInterval"),
    ("spec", "analysis", "prometheus", "authSecretRef"),
    ("spec", "analysis", "prometheus", "insecureSkipVerify"),
    ("spec", "analysis", "prometheus", "ca"),
    ("spec", "progressDeadlineSeconds"),
    ("spec", "revisionHistoryLimit"),
    ("spec", "paused"),
    ("spec", "replica"),
]

_durations = st.sampled_from(["0s", "1s", "2s", "500ms", "30s", "1h30m", "-1s", "soon", "", "5"])
_scalars = st.one_of(
    st.integers(-3, 1200),
    st.floats(-2, 2, allow_nan=False),
    st.booleans(),
    st.none(),
    _durations,
    st.sampled_from(["2.0.0", "fraud", "Bad_Name", "errorRate", "latencyP99", "http://p:9090"]),
    st.text(max_size=6),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=2),
    st.dictionaries(st.sampled_from(["setWeight", "pause", "canary", "name", "x"]), _scalars),
    st.just([{"setWeight": 10}, {"pause": {}}]),
    st.just({"canary": {"steps": [{"setWeight": 50}]}}),
    st.just({"blueGreen": {}}),
)
_conditions = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "header": st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["X-Canary", "x-canary", "Cookie", "bad name"]),
                        # up to and past the bounds of an exact and a regular-expression value
                        "value": st.sampled_from(
                            ["true", "", "^v[12]$", "v" * 64, "v" * 65, "v" * 4096, "v" * 4097]
                        ),
                    },
                    optional={"type": st.sampled_from(["Exact", "RegularExpression", "Prefix"])},
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "cookie": st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["arm", "a b", "n" * 32, "n" * 33]),
                        "value": st.sampled_from(["b", "x;y", "", "v" * 40, "v" * 41]),
                    }
                )
            }
        ),
        st.just({}),
    ),
    max_size=3,
)
_mirror = st.fixed_dictionaries({"percent": st.integers(-1, 101)})
_header_route = st.fixed_dictionaries({"match": _conditions})
# Values a person might well write at a field (keyed by its last name), so that many
# generated specs are valid and reach the operator.
_kinds = st.sampled_from(["errors", "latency", "predictions", "ratio", "drift"])
_metric_names = st.sampled_from(["model_clicks_total", "x", "1bad", "a{b}", ""])
_check = st.fixed_dictionaries(
    {"kind": _kinds},
    optional={
        "name": st.sampled_from(["a", "b", "Bad_Name"]),
        "tolerance": st.floats(-1, 11),
        "threshold": _durations,
        "series": _metric_names,
        "total": _metric_names,
        "by": st.sampled_from(["class", "bad label"]),
        "better": st.sampled_from(["lower", "higher", "sideways"]),
    },
)
_PLAUSIBLE: dict[Any, st.SearchStrategy[Any]] = {
    # What becomes the names of our Services: a DNS-1035 label of at most 56 characters.
    "name": st.one_of(
        st.sampled_from(["fuzz", "f" * 56, "f" * 57, "f" * 64, "fuzz.v2", "2fuzz", "fuzz-"]),
        st.text("abc-.9", min_size=1, max_size=8),
    ),
    "replicas": st.integers(0, 8),
    # control characters and bidirectional overrides are refused in what is shown
    "version": st.sampled_from(
        ["1.0.0", "2.0.0", "2.1.0-rc1", "v2 [/]", "v2\x1b[2J", "v2\n", "v\u202e2", "v\x9b"]
    ),
    "uri": st.sampled_from(["s3://models/fraud/2", "s3://m/\x07"]),
    "query": st.sampled_from(["sum(up)", "sum(\n  up\n)", "up\x1b", "up\r"]),
    # no credentials, query or fragment in the URL; credentials need verified https
    "url": st.sampled_from(
        [
            "http://prometheus.test:9090",
            "https://prometheus.test",
            "http://u:p@prometheus.test",
            "http://169.254.169.254/latest/user-data#",
            "http://p?x=1",
        ]
    ),
    "authSecretRef": st.sampled_from([{"name": "creds"}, {}]),
    "insecureSkipVerify": st.booleans(),
    "ca": st.sampled_from(
        [
            {"configMap": "ca"},
            {"secret": "ca", "key": "ca.pem"},
            {},
            {"configMap": "a", "secret": "b"},
        ]
    ),
    "port": st.integers(1, 65535),
    "targetPort": st.one_of(st.integers(1, 65535), st.just("http")),
    "setWeight": st.integers(0, 100),
    "duration": _durations,
    "scaleDownDelay": _durations,
    "autoPromotionAfter": _durations,
    "interval": _durations,
    "window": _durations,
    "timeout": _durations,
    "scrapeInterval": _durations,
    "failureLimit": st.integers(0, 5),
    "consecutiveErrorLimit": st.integers(1, 5),
    "minSampleSize": st.integers(0, 500),
    "max": st.floats(0, 1),
    "min": st.floats(0, 1),
    "progressDeadlineSeconds": st.integers(30, 4000),
    "revisionHistoryLimit": st.integers(0, 10),
    "paused": st.booleans(),
    "capacity": st.fixed_dictionaries({"maxSurge": st.integers(-1, 5)}),
    "maxSurge": st.integers(-1, 5),
    "mirror": _mirror,
    "steps": st.lists(
        st.one_of(
            st.fixed_dictionaries({"setWeight": st.integers(0, 100)}),
            st.fixed_dictionaries(
                {"pause": st.fixed_dictionaries({}, optional={"duration": _durations})}
            ),
            st.fixed_dictionaries({"mirror": _mirror}),
            st.fixed_dictionaries({"headerRoute": _header_route}),
        ),
        min_size=1,
        max_size=4,
    ),
    "metrics": st.sampled_from([[], [{"name": "e", "template": "errorRate", "max": 0.05}]]),
    "judge": st.fixed_dictionaries(
        {},
        optional={
            "compare": st.sampled_from(["stable", "baseline"]),
            "falseRollbackRate": st.floats(0, 0.3),
            "checks": st.lists(_check, max_size=3),
        },
    ),
    "checks": st.lists(_check, max_size=9),
    "falseRollbackRate": st.floats(0, 0.3),
    "kind": _kinds,
    "tolerance": st.floats(-1, 11),
    "threshold": _durations,
    "series": _metric_names,
    "total": _metric_names,
    "by": st.sampled_from(["class", "le", "bad label", ""]),
    "better": st.sampled_from(["lower", "higher", "sideways"]),
    "previewTraffic": st.fixed_dictionaries(
        {}, optional={"mirror": _mirror, "headerRoute": _header_route}
    ),
}
_mutations = st.lists(
    st.sampled_from(PATHS).flatmap(
        lambda path: st.tuples(
            st.just(path),
            # three in four plausible; the rest anything, or the field deleted
            st.integers(0, 3).flatmap(
                lambda roll: (
                    _PLAUSIBLE.get(path[-1], _values)
                    if roll < 3
                    else st.one_of(_values, st.just("<delete>"))
                )
            ),
        )
    ),
    min_size=1,
    max_size=3,
)


def mutate(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set (or delete) the value at `path`, creating dicts on the way where possible."""
    value = copy.deepcopy(value)  # st.just() hands out one object: never share it
    where: Any = doc
    for key in path[:-1]:
        if isinstance(where, dict):
            where = where.setdefault(key, {}) if not isinstance(key, int) else None
        elif isinstance(where, list) and isinstance(key, int) and key < len(where):
            where = where[key]
        else:
            return
        if where is None:
            return
    last = path[-1]
    if isinstance(where, dict) and not isinstance(last, int):
        if value == "<delete>":
            where.pop(last, None)
        else:
            where[last] = value
    elif isinstance(where, list) and isinstance(last, int) and last < len(where):
        if value == "<delete>":
            del where[last]
        else:
            where[last] = value


@pytest.fixture(scope="module")
def fuzz_namespace(api: client.ApiClient, modelrollout_crd: list[str]) -> Iterator[str]:
    name = "spec-fuzz"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


COUNTS = tally("generated ModelDeployments")
HANDLED = tally("accepted ModelDeployments, as reconcile handled them")
ACCEPTED: list[dict[str, Any]] = []  # specs the API server accepted, for the live run


def server_verdict(
    api: client.ApiClient, namespace: str, doc: dict[str, Any]
) -> tuple[int, str, dict[str, Any]]:
    """A dry-run create with strict field validation: (201, "", the object as the server
    would store it: defaulted, nulls dropped) or (the HTTP status, its message, {})."""
    try:
        stored = client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, doc, dry_run="All", field_validation="Strict"
        )
    except ApiException as exc:
        return exc.status, str(json.loads(exc.body).get("message", "")), {}
    return 201, "", dict(stored)


@functools.cache
def healthy_v1_status() -> dict[str, Any]:
    """A Healthy status on 1.0.0, as the operator's own reconcile leaves it."""
    cluster = Cluster()
    body = {**copy.deepcopy(BASE), "metadata": {"name": "fuzz", "namespace": "ml", "uid": "u"}}
    status = reconcile(adapters(cluster), body, datetime.now(UTC)).status
    body["status"] = status.wire()
    return reconcile(adapters(cluster), body, datetime.now(UTC)).status.wire()


@seed(20261124)
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutations=_mutations)
def test_generated_specs_are_refused_alike_or_handled_safely(
    api: client.ApiClient, fuzz_namespace: str, mutations: list[tuple[tuple[Any, ...], Any]]
) -> None:
    doc = copy.deepcopy(BASE)
    for path, value in mutations:
        mutate(doc, path, value)
    problems = lint_document(doc)
    code, refused, stored = server_verdict(api, fuzz_namespace, doc)
    assert code in (201, 400, 422), (code, refused)
    assert code == 201 or refused, "the API server says why"
    shown = json.dumps(doc["spec"], default=str)[:600]
    assert bool(problems) == bool(refused), (
        f"lint and the API server disagree on {shown}: lint {[str(p) for p in problems]}, "
        f"API server {refused!r}"
    )
    if refused:
        COUNTS["refused"] += 1
        assert all(p.path and p.message for p in problems)
        return
    COUNTS["accepted"] += 1
    ACCEPTED.append(stored["spec"])
    # Accepted: the operator decides on it from a Healthy 1.0.0 without losing the stable.
    status = healthy_v1_status()
    body = {"metadata": {"name": "fuzz", "namespace": "ml", "uid": "u", "generation": 2}}
    result = reconcile(
        adapters(Cluster()), {**body, "spec": stored["spec"], "status": status}, datetime.now(UTC)
    )
    assert not result.failed, result.status.message
    stable = result.status.stable
    assert stable is not None
    invalid = condition(result.status.conditions, ConditionType.INVALID_SPEC)
    if invalid is not None and invalid.status == "True":
        HANDLED["InvalidSpec"] += 1
        assert stable.version == "1.0.0"
    elif result.status.canary is not None:
        HANDLED["rollout started"] += 1
        assert (stable.version, result.status.canary.weight) == ("1.0.0", 0)
    else:
        HANDLED["steady"] += 1
    json.dumps(result.status.wire(), allow_nan=False)


def test_generated_specs_covered_both_verdicts() -> None:
    assert COUNTS["refused"] + COUNTS["accepted"] >= 1000
    assert COUNTS["refused"] >= 100
    assert COUNTS["accepted"] >= 100


def replace_spec(s: Scenario, spec: dict[str, Any]) -> int:
    """Replace the whole spec as `kubectl replace` does: read, change, write with the
    resourceVersion read, and read again when the operator wrote the status in between
    (409). The new generation."""
    for _ in range(20):
        current = s.get()
        current["spec"] = spec
        try:
            replaced = s.custom.replace_namespaced_custom_object(
                GROUP, VERSION, s.namespace, PLURAL, s.name, current
            )
        except ApiException as exc:
            if exc.status == 409:
                continue
            raise
        return int(replaced["metadata"]["generation"])
    raise AssertionError("20 conflicts in a row replacing the spec")


def test_the_running_operator_handles_accepted_specs_one_after_another(
    make_scenario: Callable[..., Scenario], operator: OperatorProcess
) -> None:
    """A sample of the accepted specs applied in turn to one live ModelDeployment: the
    operator reconciles every one (observedGeneration catches up), never crashes, records
    no ReconcileError, and something always serves."""
    assert len(ACCEPTED) >= 100, "runs after the generated specs"
    s = make_scenario("fuzz")
    s.traffic("1.0.0", GOOD)
    s.create("1.0.0", analysis=BASE["spec"]["analysis"])
    s.wait_healthy("1.0.0")
    sample = ACCEPTED[:: len(ACCEPTED) // 12][:12]
    for spec in sample:
        spec = {**spec, "traffic": {"gatewayAPI": {"httpRoute": s.name}}}
        generation = replace_spec(s, spec)
        status = s.wait_status(
            lambda st, g=generation: st.get("observedGeneration") == g, f"generation {generation}"
        )
        assert operator.process is not None
        operator.process.check_alive()
        failing = condition_true("ReconcileError")
        errors = [c for c in status.get("conditions", []) if c["type"] == "ReconcileError"]
        assert not failing(status), (errors, json.dumps(spec)[:2000])
        assert status.get("stable"), "a stable revision always serves"
