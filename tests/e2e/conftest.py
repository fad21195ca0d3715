"""Session fixtures for the e2e suite: a real cluster, a real Prometheus, upstream CRDs.

The cluster is chosen with --cluster (or MODELROLLOUT_E2E_CLUSTER):
  local     start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
            kwok here (default);
  existing  use the cluster $KUBECONFIG points at;
  kind      create one with pytest-kind (needs a Docker engine).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from testenv import settings
from testenv.binaries import ensure_all, prometheus_binary
from testenv.cluster import Cluster
from testenv.controlplane import LocalControlPlane
from testenv.crds import MODELROLLOUT_CRD, apply_crds, upstream_crds
from testenv.namespaces import temporary_namespace
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus
from testenv.rollouts import Scenario

E2E_DIR = settings.CACHE_DIR / "e2e"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cluster",
        default=settings.cluster_mode(),
        choices=["local", "existing", "kind"],
        help="which cluster the e2e tests run against (env MODELROLLOUT_E2E_CLUSTER)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    mode = request.config.getoption("--cluster")
    if mode == "existing":
        path = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
        if not Path(path).exists():
            pytest.fail(f"--cluster=existing needs a kubeconfig: {path} does not exist")
        yield Cluster(mode, Path(path))
    elif mode == "kind":
        yield from _kind_cluster()
    else:
        plane = LocalControlPlane(E2E_DIR / "controlplane", ensure_all())
        try:
            endpoints = plane.start()
            yield Cluster(mode, endpoints.kubeconfig, endpoints.audit_log)
        finally:
            plane.stop()


def _kind_cluster() -> Iterator[Cluster]:
    if shutil.which("docker") is None:
        pytest.fail("--cluster=kind needs Docker: no `docker` command on PATH")
    from pytest_kind import KindCluster

    kind = KindCluster(f"modelrollout-e2e-{uuid.uuid4().hex[:6]}")
    try:
        kind.create()
    except Exception as exc:
        pytest.fail(
            f"--cluster=kind could not create a kind cluster (is a Docker engine running?): {exc}"
        )
    try:
        yield Cluster("kind", Path(kind.kubeconfig_path))
    finally:
        kind.delete()


@pytest.fixture(scope="session")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    api_client = cluster.api_client()
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    with temporary_namespace(api) as name:
        yield name


@pytest.fixture(scope="session")
def prometheus() -> Iterator[LocalPrometheus]:
    prom = LocalPrometheus(E2E_DIR / "prometheus", prometheus_binary())
    try:
        prom.start()
        yield prom
    finally:
        prom.stop()


@pytest.fixture(scope="session")
def gateway_api_crds(api: client.ApiClient) -> list[str]:
    return apply_crds(api, upstream_crds("gateway-api"))


@pytest.fixture(scope="session")
def istio_crds(api: client.ApiClient) -> list[str]:
    return apply_crds(api, upstream_crds("istio"))


@pytest.fixture(scope="session")
def inference_pool_crds(api: client.ApiClient) -> list[str]:
    return apply_crds(api, upstream_crds("inference-extension"))


@pytest.fixture(scope="session")
def modelrollout_crd(api: client.ApiClient) -> list[str]:
    return apply_crds(api, [MODELROLLOUT_CRD])


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster,
    modelrollout_crd: list[str],
    gateway_api_crds: list[str],
    istio_crds: list[str],
    inference_pool_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """One operator process for the session; a test may kill and restart it. The route
    CRDs are installed first: the operator watches what is served when it starts."""
    proc = OperatorProcess(cluster.kubeconfig, tmp_path_factory.mktemp("operator"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def session_operator_stopped(operator: OperatorProcess) -> Iterator[None]:
    """Two operators must not act on the same objects: the session's waits meanwhile."""
    operator.stop()
    try:
        yield
    finally:
        operator.start()


@pytest.fixture
def make_scenario(
    api: client.ApiClient,
    namespace: str,
    prometheus: LocalPrometheus,
    gateway_api_crds: list[str],
    operator: OperatorProcess,
) -> Iterator[Callable[..., Scenario]]:
    """Scenarios in this test's namespace (with an HTTPRoute unless route=False), closed after."""
    made: list[Scenario] = []

    def make(name: str, *, route: bool = True) -> Scenario:
        scenario = Scenario(api, namespace, prometheus, name)
        made.append(scenario)
        if route:
            scenario.create_route()
        return scenario

    yield make
    for scenario in made:
        scenario.close()
