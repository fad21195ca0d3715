"""Everything a rollout needs, for scripts (the demo, the benchmarks): a control plane,
Prometheus, the Gateway API, InferencePool and ModelDeployment CRDs, and the operator
as a process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from testenv.cluster import api_client_for
from testenv.controlplane import Endpoints
from testenv.crds import MODELROLLOUT_CRD, apply_crds, upstream_crds
from testenv.environment import Environment
from testenv.operator import OperatorProcess
from testenv.prometheus import LocalPrometheus


@dataclass(frozen=True)
class Stack:
    endpoints: Endpoints
    api: client.ApiClient
    prometheus: LocalPrometheus
    operator: OperatorProcess


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """Start it all, yield it, and stop it all (also on errors)."""
    environment = Environment(workdir)
    try:
        endpoints = environment.start()
        api = api_client_for(endpoints.kubeconfig)
        upstream = [*upstream_crds("gateway-api"), *upstream_crds("inference-extension")]
        apply_crds(api, [*upstream, MODELROLLOUT_CRD])  # before the operator: it watches them
        operator = OperatorProcess(endpoints.kubeconfig, workdir / "operator")
        operator.start()
        try:
            yield Stack(endpoints, api, environment.prometheus, operator)
        finally:
            operator.stop()
    finally:
        environment.stop()
