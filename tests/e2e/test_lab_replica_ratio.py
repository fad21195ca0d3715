"""Replica ratio on real traffic: real Envoy balancing over the ready endpoints of the
one Service that selects every revision's pods (as kube-proxy would), real
model-server processes. The canary's served share follows its share of the pods
within statistical bounds, and no request fails across a good rollout, the scale-downs
of stable included."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from scipy import stats

from lab.gateway import Applied
from lab.lab import Lab, lab_model_deployment, service_route
from lab.load import Outcome
from lab.record import old_pods_gone, play
from modelrollout.engine.capacity import ratio_weight
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus

NAME = "ratio"
RPS = 40
REPLICAS = 4
STEPS = [
    {"setWeight": 5},  # one pod of four: 25%
    {"pause": {"duration": "8s"}},
    {"setWeight": 50},
    {"pause": {"duration": "8s"}},
]
SETTLE_SECONDS = 0.5  # Envoy applies a new split within this (its config push)
MIN_REQUESTS = 40  # a window with fewer says little
ALPHA = 1e-3  # for all windows together (Bonferroni)


def windows(applied: list[Applied], cluster: str, end: float) -> list[tuple[float, float, float]]:
    """(from, to, canary share of the pods) of each split Envoy held."""
    spans = []
    for this, following in zip(applied, [*applied[1:], None], strict=True):
        until = following.at if following is not None else end
        spans.append((this.at + SETTLE_SECONDS, until, this.shares.get(cluster, 0.0)))
    return [(start, until, share) for start, until, share in spans if until > start]


def served(outcomes: list[Outcome], start: float, until: float, version: str) -> tuple[int, int]:
    """(answers, of which by `version`) of the requests sent in [start, until)."""
    inside = [o for o in outcomes if start <= o.sent < until and o.version]
    return len(inside), sum(o.version == version for o in inside)


@pytest.mark.timeout(400)
def test_the_canary_serves_its_share_of_the_pods_and_no_request_fails(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    with Lab(api, namespace, prometheus, tmp_path) as lab:
        strategy = {"canary": {"steps": STEPS, "scaleDownDelay": "5m"}}
        body = lab_model_deployment(
            NAME,
            "1.0.0",
            prometheus.url,
            replicas=REPLICAS,
            strategy=strategy,
            traffic={"replicaRatio": {}},
        )
        body["spec"]["analysis"].update(
            minSampleSize=10, metrics=[{"name": "error-rate", "template": "errorRate", "max": 0.05}]
        )
        lab.deploy(body, route=service_route(NAME, NAME))
        load = lab.load(RPS)
        good = play(lab, NAME, "2.0.0", load, settle=old_pods_gone(lab, "2.0.0"))
        load.stop()

    assert good.outcome == "Promoted"
    weights = {w for _, w in good.weight_changes()}
    assert {25, 50} <= weights, weights
    assert weights <= {ratio_weight(REPLICAS, w) for w in range(101)}, "whole pods"
    assert good.outcomes, "the load was answered"
    assert good.failed == 0, [o for o in good.outcomes if not o.ok][:5]

    # Envoy's split is the pods' (each ready endpoint an equal part); the answers follow
    # it, window by window, as binomial draws would.
    applied = [a for a in lab.gateway.history if good.started <= a.at]
    spans = windows(applied, good.cluster, good.outcomes[-1].sent)
    shares = {round(share, 3) for _, _, share in spans}
    assert {0.25, 0.5} <= shares, f"a pod of four, then two: {shares}"
    tested = []
    for start, until, share in spans:
        n, k = served(good.outcomes, start, until, "2.0.0")
        if n < MIN_REQUESTS or share in (0.0, 1.0):
            assert share != 0.0 or k == 0, "no pod, no answer"
            continue
        tested.append((share, n, k, stats.binomtest(k, n, share).pvalue))
    assert len(tested) >= 2, f"too few windows to test: {spans}"
    worst = min(p for *_, p in tested)
    assert worst >= ALPHA / len(tested), f"served shares off their pods': {tested}"
