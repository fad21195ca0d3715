"""Fifty ModelDeployments change version at once, with the operator's requests to the
API server held to a rate well below what the burst needs; meanwhile a person aborts
another one. The abort goes ahead of the burst (a thread, then the API server's
tokens, by urgency: handlers.workers, modelrollout.rate_limits) and acts while most of
the fifty are still waiting for their first step; then the fifty take theirs."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from testenv.cluster import Cluster
from testenv.operator import OperatorProcess
from testenv.pairs import GOOD
from testenv.procs import wait_until
from testenv.rollouts import HELD_CANARY, Scenario

BURST = 50
EVENT = re.compile(r"(?P<at>\S+ \S+) \w+ modelrollout: \S+/(?P<name>[\w-]+) (?P<reason>\w+):")
QPS = 20  # the burst needs about 8 requests a rollout: 20 s of tokens at this rate


@pytest.fixture
def throttled(
    cluster: Cluster, session_operator_stopped: None, tmp_path: Path
) -> Iterator[OperatorProcess]:
    operator = OperatorProcess(
        cluster.kubeconfig, tmp_path, [f"--kube-api-qps={QPS}", f"--kube-api-burst={QPS}"]
    )
    operator.start()
    yield operator
    operator.stop()


def said(operator: OperatorProcess, reason: str, of: str) -> list[datetime]:
    """When the operator logged an Event of `reason` for ModelDeployments named `of...`
    (its log's clock; an Event is logged after acting: the route was written by then)."""
    found = []
    for line in operator.logs().splitlines():
        match = EVENT.match(line)
        if match and match["reason"] == reason and match["name"].startswith(of):
            found.append(datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f"))
    return found


@pytest.mark.timeout(900)
def test_a_persons_abort_acts_at_once_while_fifty_rollouts_start(
    make_scenario: Callable[..., Scenario], throttled: OperatorProcess
) -> None:
    with ThreadPoolExecutor(10) as pool:  # each waits for Prometheus to scrape its exporter
        held, *burst = pool.map(make_scenario, ["held", *(f"burst-{i}" for i in range(BURST))])
        for s in [held, *burst]:
            s.traffic("1.0.0", GOOD)
            s.traffic("2.0.0", GOOD)
        list(pool.map(lambda s: s.create("1.0.0", strategy=HELD_CANARY), [held, *burst]))
        for s in [held, *burst]:
            s.wait_healthy("1.0.0", timeout=240)
        held.set_version("2.0.0")
        held.wait_status(lambda st: st.get("phase") == "Paused", "held at its first pause")
        held.wait_route_weight(20)

        list(pool.map(lambda s: s.set_version("2.0.0"), burst))
        wait_until(
            lambda: said(throttled, "RolloutStarted", "burst-") != [],
            timeout=60,
            what="the burst began",
        )
        held.request("abort")
        asked = datetime.now()  # stored by now (the operator's log is in local time)
        wait_until(
            lambda: said(throttled, "Aborted", "held") != [], timeout=60, what="the abort acted on"
        )
        (acted_at,) = said(throttled, "Aborted", "held")
        acted = (acted_at - asked).total_seconds()
        before = [at for at in said(throttled, "RolloutStarted", "burst-") if at <= acted_at]
        waiting = BURST - len(before)
        print(
            f"abort -> acted on (route back to stable, status written): {acted:.2f}s, with "
            f"{waiting} of {BURST} rollouts yet to start"
        )
        assert waiting >= BURST // 2, "the abort went ahead of the burst"

        for s in burst:  # the burst loses nothing: each takes its first step
            s.wait_route_weight(20, timeout=240)
    status = held.wait_status(lambda st: st.get("phase") == "RolledBack", "rolled back")
    assert [h["outcome"] for h in status["history"]] == ["RolledBack"]
    assert Counter(r for _, r, _ in held.events())["Aborted"] == 1
    assert held.recorder is not None
    assert held.recorder.weights == [0, 20, 0], "traffic back to stable, once"
    assert acted <= 1.0, f"the abort acted {acted:.2f}s after it was asked"
