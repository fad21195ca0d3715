"""LLM rollouts through InferencePools in the traffic lab: real Envoy calling a real
endpoint picker per pool (the Inference Extension's reference picker, built from its Go
module) through ext_proc, stand-in vLLM servers streaming tokens, a real Prometheus that
finds them by Kubernetes service discovery and relabels their pods' labels onto their
series, and a load of streamed completions that records what a client sees.

- a version whose time to first token is twice stable's is rolled back by the judge, on
  mirrored copies, before any user is answered by it;
- one with 1 token in 20 twice as slow is promoted (within the default tolerance);
- a good version that takes 5 s to load is promoted with no failed or cut stream;
- the time to first token the clients saw agrees with what the judge read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lab.llm_lab import LlmLab, llm_model_deployment, llm_patch
from lab.llm_load import Stream, median_ttft
from lab.record import play, settled_after
from testenv.cluster import Cluster
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus

NAME = "chat"
RPS = 8
# Judged on mirrored copies first (the canary Service: every copy, no user affected),
# then 5% of users (the gateway's backend warm before more), then half.
STEPS = [
    {"mirror": {"percent": 100}},
    {"pause": {"duration": "20s"}},
    {"setWeight": 5},
    {"pause": {"duration": "5s"}},
    {"setWeight": 50},
    {"pause": {"duration": "15s"}},
]
# Default tolerances: no bucket boundary's share may move by more than 5 points. One
# token in twenty twice as slow moves the share of gaps under 25 ms by about 4.
CHECKS = [{"kind": "errors"}, {"kind": "timeToFirstToken"}, {"kind": "interTokenLatency"}]
TTFT_EVIDENCE = re.compile(
    r"timeToFirstToken \(.*?evidence ([\d.e+]+)x \(rollback at ([\d.e+]+)x\)"
)
SLOW_TO_LOAD = {"LLM_START_SECONDS": "5"}  # /health answers 503 until then
SLOW_FIRST_TOKEN = {"LLM_FAULT_TTFT_FACTOR": "2"}
ONE_IN_TWENTY = {"LLM_FAULT_SLOW_TOKEN_SHARE": "0.05", "LLM_FAULT_SLOW_TOKEN_FACTOR": "2"}


def judged(prometheus: LocalPrometheus) -> dict[str, Any]:
    strategy = {"canary": {"steps": STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}}
    body = llm_model_deployment(NAME, "1.0.0", prometheus.url, strategy=strategy)
    analysis = body["spec"]["analysis"]
    analysis.update(minSampleSize=10, metrics=[], judge={"checks": CHECKS})
    analysis.pop("window", None)
    return body


def failed(streams: list[Stream]) -> list[Stream]:
    return [s for s in streams if not s.ok]


@pytest.mark.timeout(900)
def test_llm_versions_are_judged_on_time_to_first_token_through_pools(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    inference_pool_crds: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    with LlmLab(api, namespace, prometheus, tmp_path, cluster.kubeconfig, NAME) as lab:
        lab.deploy(judged(prometheus))
        load = lab.load_streams(RPS)

        judged_last: dict[str, Any] = {}

        def keep_judge(_: Any, status: dict[str, Any]) -> None:
            if (status.get("canary") or {}).get("version") == "2.0.0":
                judged_last.update((status.get("analysis") or {}).get("judge") or {})

        good = play(
            lab,
            NAME,
            "2.0.0",
            None,
            patch=llm_patch("2.0.0", SLOW_TO_LOAD),
            settle=settled_after(lab, "2.0.0", "1.0.0"),
            on_poll=keep_judge,
        )
        good_streams = load.between(good.started, good.decided)
        slow = play(
            lab,
            NAME,
            "3.0.0",
            None,
            patch=llm_patch("3.0.0", SLOW_FIRST_TOKEN),
            settle=settled_after(lab, "3.0.0", "2.0.0"),
        )
        slow_streams = load.between(slow.started, slow.decided)
        jittery = play(
            lab,
            NAME,
            "4.0.0",
            None,
            patch=llm_patch("4.0.0", ONE_IN_TWENTY),
            settle=settled_after(lab, "4.0.0", "2.0.0"),
        )
        load.stop()

    for record in (good, slow, jittery):
        print(record.version, record.outcome, record.reason, record.weight_changes())
    assert good.outcome == "Promoted", good.reason
    assert good_streams, "streams flowed during the good rollout"
    assert failed(good_streams) == [], "no failed or cut stream through a promotion"
    assert {s.version for s in good_streams} == {"1.0.0", "2.0.0"}, "both answered"

    assert slow.outcome == "RolledBack", slow.reason
    found = TTFT_EVIDENCE.search(slow.reason)
    assert found is not None, slow.reason
    assert float(found[1]) >= float(found[2]), "rolled back by the time to first token"
    assert all(weight == 0 for _, _, weight in slow.steps), "no user answered by it"
    assert not [s for s in slow_streams if s.version == "3.0.0"]
    assert failed(slow_streams) == []

    # What the judge read agrees with what clients saw: the median first token the
    # clients of the good version waited for lies where the judge's counts put the
    # canary's median, give or take one bucket (the gateway and picker add a little).
    ttft = next(c for c in judged_last["checks"] if c["name"] == "timeToFirstToken")
    seen = median_ttft([s for s in good_streams if s.version == "2.0.0"])
    bounds = [float(b) for b in ttft["buckets"]]
    at = next(i for i, n in enumerate(ttft["canaryCounts"]) if n >= ttft["canaryRequests"] / 2)
    lower = bounds[at - 1] if at >= 1 else 0.0
    upper = bounds[at + 1] if at + 1 < len(bounds) else float("inf")
    assert lower <= seen <= upper, (seen, ttft)

    assert jittery.outcome == "Promoted", jittery.reason
