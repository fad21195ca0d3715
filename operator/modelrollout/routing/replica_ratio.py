"""Replica ratio, no mesh: one Service selects the pods of every revision, and each
revision's share of traffic is its share of the ready pods. There is nothing to write:
the engine sizes the revisions for the weights (engine/capacity.py, the same sizing as
a capacity budget, with the surge as its budget), so this router only checks that the
Service can carry the split, and supports weights alone.

The Service is the operator's own `<name>` (workloads/ writes it, selecting every
pod of the ModelDeployment) or one the user names, which is read and never written:
its selector must pick labels every pod carries whatever its revision (never the
revision's own label), else one revision would get no traffic at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelrollout.api.vocabulary import Reason
from modelrollout.engine.model import RouteFeature, RouteState
from modelrollout.routing.router import RouteError


def selector_problem(
    selector: Mapping[str, str] | None, pod_labels: Mapping[str, str]
) -> str | None:
    """Why a Service with `selector` does not select every pod (labelled `pod_labels`,
    the labels all revisions' pods share), or None."""
    if not selector:
        return "has no selector (its endpoints are not the pods')"
    missing = sorted(f"{k}={v}" for k, v in selector.items() if pod_labels.get(k) != v)
    if missing:
        return (
            f"selects {', '.join(missing)}, which the pods of every revision do not all "
            "carry: select labels of the pod template (such as app), never a version"
        )
    return None


class ReplicaRatioRouter:
    supports: frozenset[RouteFeature] = frozenset({"weights"})

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        service: str,
        pod_labels: Mapping[str, str],
        users: bool,
    ) -> None:
        """`users`: the Service is the user's (read and checked), not the operator's."""
        self.core = client.CoreV1Api(api)
        self.namespace, self.service = namespace, service
        self.pod_labels, self.users = pod_labels, users
        self.name = f"replica ratio on Service {namespace}/{service}"

    def check(self, needed: Mapping[RouteFeature, str]) -> None:
        if not self.users:
            return  # ours, written with the other Services
        try:
            found = self.core.read_namespaced_service(self.service, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            message = f"Service {self.namespace}/{self.service} not found"
            raise RouteError(Reason.ROUTE_NOT_FOUND, message) from exc
        problem = selector_problem(found.spec.selector if found.spec else None, self.pod_labels)
        if problem is not None:
            message = f"Service {self.namespace}/{self.service} {problem}"
            raise RouteError(Reason.ROUTE_INVALID, message)

    def carries(self, state: RouteState) -> bool:
        return True  # the pods carry it: the engine sizes them for the weight

    def empty_filter_lists(self) -> tuple[int, ...] | None:
        return ()

    def apply(self, state: RouteState) -> None:
        return None
