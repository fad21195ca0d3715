"""Objects that are not ours are never sent to the operator: its watches of Deployments,
Services and EndpointSlices carry a label selector the API server applies, so another
application's objects cost it nothing, neither at startup (the listing) nor after
(their events), and its memory does not grow with them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv.cluster import Cluster
from testenv.namespaces import temporary_namespace
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.rollouts import (
    GW,
    RouteRecorder,
    count_healthy,
    create_idle,
    http_route,
    model_deployment,
)
from testenv.unrelated import EVENTS, foreign_events, unrelated

MODELS = 50
PER_KIND = 700  # unrelated Deployments, Services and EndpointSlices: 2,100 in all
OWNED = ("deployments", "services", "endpointslices")
OURS = f'{EVENTS}{{ours="true"'
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
            foreign, ours = foreign_events(beside, OWNED), beside.metric(OURS)
        finally:
            beside.stop()

    print(
        f"{MODELS} models, {3 * PER_KIND} unrelated objects: RSS {without:.0f} MiB alone, "
        f"{with_them:.0f} MiB beside them; watch events: {ours:.0f} ours, {foreign:.0f} not"
    )
    assert ours >= MODELS, "the watches deliver the ModelDeployments' own objects"
    assert foreign == 0, f"{foreign:.0f} events of objects not ours were sent"
    assert with_them <= without * MEMORY_MARGIN, (without, with_them)


SELECTOR = "modelrollout.io/routed"
LABELLED, UNRELATED_ROUTES = 5, 200


def promoted(custom: client.CustomObjectsApi, namespace: str, name: str, version: str) -> bool:
    md: Any = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    status = md.get("status") or {}
    history = [h["outcome"] for h in status.get("history", [])]
    serving = (status.get("stable") or {}).get("version")
    return bool(status.get("phase") == "Healthy" and serving == version and history == ["Promoted"])


def routes_beside(api: client.ApiClient, namespace: str, start: int, count: int) -> None:
    """Another application's HTTPRoutes, not labelled for the operator."""
    custom = client.CustomObjectsApi(api)
    for i in range(start, start + count):
        route = http_route(f"shop-{i}", f"shop-{i}", f"shop-{i}-next")
        custom.create_namespaced_custom_object(*GW, namespace, "httproutes", route)


def test_with_a_route_selector_only_labelled_routes_are_sent_and_others_still_work(
    api: client.ApiClient,
    cluster: Cluster,
    namespace: str,
    modelrollout_crd: list[str],
    gateway_api_crds: list[str],
    session_operator_stopped: None,
    tmp_path: Path,
) -> None:
    """Five ModelDeployments route through labelled HTTPRoutes, one through a route
    without the label (read from the API server at each reconcile, not watched), beside
    another application's routes: none of those is ever sent, and the unlabelled one
    still rolls out."""
    custom = client.CustomObjectsApi(api)
    names = [f"routed-{i}" for i in range(LABELLED)]
    for name in [*names, "plain"]:
        route = http_route(name, f"{name}-stable", f"{name}-canary")
        if name != "plain":
            route["metadata"]["labels"] = {SELECTOR: "true"}
        custom.create_namespaced_custom_object(*GW, namespace, "httproutes", route)
        body = model_deployment(name, "1.0.0", "http://127.0.0.1:9", replicas=1, analysis=None)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    with temporary_namespace(api, "shop") as shop:
        routes_beside(api, shop, 0, UNRELATED_ROUTES // 2)  # there at startup
        operator = OperatorProcess(
            cluster.kubeconfig, tmp_path, [f"--route-label-selector={SELECTOR}"]
        )
        operator.start()
        try:
            wait_until(
                lambda: count_healthy(api, namespace) == LABELLED + 1,
                timeout=180,
                what="all Healthy",
            )
            routes_beside(api, shop, UNRELATED_ROUTES // 2, UNRELATED_ROUTES // 2)  # after
            recorder = RouteRecorder(api, namespace, "plain", "plain-canary")
            patch = {"spec": {"model": {"version": "2.0.0"}}}
            custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "plain", patch)
            wait_until(
                lambda: promoted(custom, namespace, "plain", "2.0.0"),
                timeout=120,
                what="plain promoted",
            )
            recorder.stop()
            wait_until(settled(operator), timeout=120, what="the operator quiet", interval=3)
            delivered = operator.metric(f'{EVENTS}{{ours="false",resource="httproutes"}}')
            delivered += operator.metric(f'{EVENTS}{{ours="true",resource="httproutes"}}')
        finally:
            operator.stop()
    assert recorder.weights == [0, 20, 50, 100, 0], "the unlabelled route was split"
    print(f"route events delivered: {delivered:.0f} ({UNRELATED_ROUTES} unrelated routes)")
    assert delivered <= 2 * LABELLED, "only the labelled routes' events were sent"
