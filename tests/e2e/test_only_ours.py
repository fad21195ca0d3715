"""Objects that are not ours are never sent to the operator: its watches of Deployments,
Services and EndpointSlices carry a label selector the API server applies, so another
application's objects cost it nothing, neither at startup (the listing) nor after
(their events), and its memory does not grow with them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

from testenv.cluster import Cluster
from testenv.namespaces import temporary_namespace
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.rollouts import count_healthy, create_idle
from testenv.unrelated import unrelated

MODELS = 50
PER_KIND = 700  # unrelated Deployments, Services and EndpointSlices: 2,100 in all
FOREIGN = 'modelrollout_watch_events_total{ours="false"'
OURS = 'modelrollout_watch_events_total{ours="true"'
MEMORY_MARGIN = 1.10  # the bound: unrelated objects add at most 10%


def settled(operator: OperatorProcess) -> Callable[[], bool]:
    """Quiet for one poll: no reconcile and no watch event since the last."""
    last: list[Any] = [None]

    def quiet() -> bool:
        now = (operator.reconciles(), operator.metric("modelrollout_watch_events_total"))
        unchanged, last[0] = now == last[0], now
        return unchanged

    return quiet


def started(kubeconfig: Path, workdir: Path) -> OperatorProcess:
    """A fresh operator, once it has decided on every ModelDeployment and is quiet."""
    operator = OperatorProcess(kubeconfig, workdir)
    operator.start()
    wait_until(lambda: operator.reconciles() >= MODELS, timeout=180, what="a reconcile each")
    wait_until(settled(operator), timeout=120, what="the operator quiet", interval=3)
    return operator


def test_another_applications_objects_are_never_sent_to_the_operator(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    modelrollout_crd: list[str],
    gateway_api_crds: list[str],
    session_operator_stopped: None,
    tmp_path: Path,
) -> None:
    create_idle(api, namespace, [f"m-{i}" for i in range(MODELS)])
    first = OperatorProcess(cluster.kubeconfig, tmp_path / "first")
    first.start()
    try:
        wait_until(lambda: count_healthy(api, namespace) == MODELS, timeout=240, what="all Healthy")
    finally:
        first.stop()

    # Without unrelated objects: a fresh start's memory, once quiet.
    alone = started(cluster.kubeconfig, tmp_path / "alone")
    try:
        without = alone.rss_mib()
    finally:
        alone.stop()

    with temporary_namespace(api, "shop") as shop:
        unrelated(api, shop, 0, PER_KIND // 2)  # there at startup: the listing
        beside = started(cluster.kubeconfig, tmp_path / "beside")
        try:
            unrelated(api, shop, PER_KIND // 2, PER_KIND - PER_KIND // 2)  # events after
            wait_until(settled(beside), timeout=120, what="the operator quiet", interval=3)
            with_them = beside.rss_mib()
            foreign, ours = beside.metric(FOREIGN), beside.metric(OURS)
        finally:
            beside.stop()

    print(
        f"{MODELS} models, {3 * PER_KIND} unrelated objects: RSS {without:.0f} MiB alone, "
        f"{with_them:.0f} MiB beside them; watch events: {ours:.0f} ours, {foreign:.0f} not"
    )
    assert ours >= MODELS, "the watches deliver the ModelDeployments' own objects"
    assert foreign == 0, f"{foreign:.0f} events of objects not ours were sent"
    assert with_them <= without * MEMORY_MARGIN, (without, with_them)
