"""Helpers for rollout scenarios on the real cluster: a ModelDeployment, its HTTPRoute
(every write to it recorded through a watch), its metrics exporter, its events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.vocabulary import REQUEST_ANNOTATION
from modelrollout.engine.model import RequestAction
from modelrollout.engine.request_token import mint
from testenv.exporter import ModelExporter, Traffic
from testenv.procs import wait_until
from testenv.prometheus import SCRAPE_INTERVAL, LocalPrometheus
from testenv.watching import follow

GW = ("gateway.networking.k8s.io", "v1")

FAST_STEPS = [
    {"setWeight": 20},
    {"pause": {"duration": "3s"}},
    {"setWeight": 50},
    {"pause": {"duration": "3s"}},
]


def steps_to_full(pause: str) -> list[dict[str, Any]]:
    """A canary through 10, 50 and 100%, pausing `pause` after each (budget tests)."""
    return [step for weight in (10, 50, 100) for step in _weight_then_pause(weight, pause)]


def _weight_then_pause(weight: int, pause: str) -> list[dict[str, Any]]:
    return [{"setWeight": weight}, {"pause": {"duration": pause}}]


# A canary that waits for a person at 20% and at 40% (`pause: {}` steps).
def every_route_feature(header: dict[str, str]) -> list[dict[str, Any]]:
    """Steps through every route feature: a mirror, a header route on `header`, then
    weights from 1%."""
    pause = {"pause": {"duration": "3s"}}
    return [
        {"mirror": {"percent": 100}},
        pause,
        {"headerRoute": {"match": [{"header": header}]}},
        pause,
        {"setWeight": 1},
        pause,
        {"setWeight": 50},
        pause,
    ]


HELD_CANARY = {
    "canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {}}]}
}


def condition_true(type_: str) -> Callable[[dict[str, Any]], bool]:
    """A status predicate: condition `type_` is True."""
    return lambda st: any(
        c["type"] == type_ and c["status"] == "True" for c in st.get("conditions", [])
    )


def model_deployment(
    name: str, version: str, prometheus_url: str, *, route: str | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "model": {"version": version},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": f"example.test/{name}:{version}",
                        "ports": [{"name": "http", "containerPort": 8080}],
                    }
                ]
            }
        },
        "strategy": {
            "canary": {"steps": FAST_STEPS, "scaleDownDelay": "2s", "abortScaleDownDelay": "2s"}
        },
        "traffic": {"gatewayAPI": {"httpRoute": route or name}},
        "analysis": {
            "prometheus": {
                "url": prometheus_url,
                "timeout": "2s",
                "scrapeInterval": SCRAPE_INTERVAL,
            },
            "interval": "2s",
            "window": "4s",
            "failureLimit": 0,
            "consecutiveErrorLimit": 2,
            "minSampleSize": 20,
            "metrics": [
                {"name": "error-rate", "template": "errorRate", "max": 0.05},
                {"name": "latency-p99", "template": "latencyP99", "max": 0.5},
            ],
        },
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": body,
    }


def http_route(name: str, stable: str, canary: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW[0]}/{GW[1]}",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": stable, "port": 80, "weight": 100},
                        {"name": canary, "port": 80, "weight": 0},
                    ],
                }
            ],
        },
    }


def create_idle(api: client.ApiClient, namespace: str, names: list[str]) -> None:
    """ModelDeployments of 1 replica on version 1.0.0, each with a canary strategy, its
    own HTTPRoute and no analysis: what scale and idle-cost measurements run."""
    custom = client.CustomObjectsApi(api)
    for name in names:
        route = http_route(name, f"{name}-stable", f"{name}-canary")
        custom.create_namespaced_custom_object(*GW, namespace, "httproutes", route)
        body = model_deployment(name, "1.0.0", "http://127.0.0.1:9", replicas=1, analysis=None)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def count_healthy(api: client.ApiClient, namespace: str) -> int:
    listed: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL
    )
    return sum((o.get("status") or {}).get("phase") == "Healthy" for o in listed["items"])


ISTIO = ("networking.istio.io", "v1")


def canary_weight(rules: list[dict[str, Any]], canary: str, istio: bool) -> int | None:
    """The weight of the canary in a route's rules (a VirtualService's `http` routes);
    our header routes, to the canary alone, do not count."""
    for rule in rules:
        if str(rule.get("name") or "").startswith("modelrollout-"):
            continue
        for ref in rule.get("route" if istio else "backendRefs") or []:
            name = ref["destination"]["host"] if istio else ref["name"]
            if name == canary:
                return int(ref.get("weight", 0 if istio else 1))
    return None


class RouteRecorder:
    """Records the canary weight of every version of a route, and each version's rules,
    through a watch: a Gateway API route (an HTTPRoute unless `plural` says otherwise;
    its `rules`' backendRefs) or, with plural `virtualservices`, an Istio VirtualService
    (its `http` routes' destinations)."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        canary: str,
        plural: str = "httproutes",
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace, self.name, self.canary = namespace, name, canary
        self.plural = plural
        self.istio = plural == "virtualservices"
        self.weights: list[int] = []
        self.weighed_at: list[float] = []  # time.monotonic() each weight was seen
        self.rules: list[list[dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        follow(
            self._stop,
            self.custom.list_namespaced_custom_object,
            *(ISTIO if self.istio else GW),
            self.namespace,
            self.plural,
            field_selector=f"metadata.name={self.name}",
            on_event=self._see,
        )

    def _see(self, _kind: str, route: dict[str, Any]) -> None:
        rules = route["spec"].get("http" if self.istio else "rules", [])
        if not self.rules or self.rules[-1] != rules:
            self.rules.append(rules)
        weight = canary_weight(rules, self.canary, self.istio)
        if weight is not None and (not self.weights or self.weights[-1] != weight):
            self.weights.append(weight)
            self.weighed_at.append(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Scenario:
    """One ModelDeployment in its own namespace with a route, an exporter and a recorder."""

    def __init__(
        self, api: client.ApiClient, namespace: str, prometheus: LocalPrometheus, name: str
    ) -> None:
        self.api, self.namespace, self.name = api, namespace, name
        self.prometheus = prometheus
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.exporter = ModelExporter(namespace, name)
        prometheus.add_target(f"{namespace}-{name}", self.exporter.address)
        self.recorder: RouteRecorder | None = None
        self.route_plural = "httproutes"  # what route_canary_weight reads

    def _route_api(self) -> tuple[str, str]:
        return ISTIO if self.route_plural == "virtualservices" else GW

    def create_route(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create the route named like the scenario, of kind `route_plural` (`body`; by
        default an HTTPRoute to our Services), and record its versions; returns it as
        the API server stored it."""
        canary = f"{self.name}-canary"
        body = body or http_route(self.name, f"{self.name}-stable", canary)
        created: Any = self.custom.create_namespaced_custom_object(
            *self._route_api(), self.namespace, self.route_plural, body
        )
        self.recorder = RouteRecorder(
            self.api, self.namespace, self.name, canary, self.route_plural
        )
        return dict(created)

    def route_spec(self) -> dict[str, Any]:
        """The route's spec as the API server holds it now."""
        route: Any = self.custom.get_namespaced_custom_object(
            *self._route_api(), self.namespace, self.route_plural, self.name
        )
        return dict(route["spec"])

    def traffic(self, version: str, traffic: Traffic) -> None:
        self.exporter.set(version, traffic)

    def create(self, version: str, **spec: Any) -> dict[str, Any]:
        """Returns the object as the API server stored it."""
        body = model_deployment(self.name, version, self.prometheus.url, **spec)
        created: Any = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return dict(created)

    def set_version(self, version: str, dry_run: bool = False) -> dict[str, Any]:
        """Returns the patched object (a new generation the operator has not seen yet), or
        with dry_run, the object as it would be, unchanged in the cluster."""
        image = f"example.test/{self.name}:{version}"
        container = {
            "name": "server",
            "image": image,
            "ports": [{"name": "http", "containerPort": 8080}],
        }
        dry = "All" if dry_run else None
        patch = {
            "spec": {
                "model": {"version": version},
                "template": {"spec": {"containers": [container]}},
            }
        }
        patched: Any = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name, patch, dry_run=dry
        )
        return dict(patched)

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of the ModelDeployment; the object as patched."""
        patched: Any = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name, body
        )
        return dict(patched)

    def request(self, action: RequestAction) -> None:
        """A person's request (what the kubectl plugin writes)."""
        token = mint(action, datetime.now(UTC))
        self.patch({"metadata": {"annotations": {REQUEST_ANNOTATION: token}}})

    def get(self) -> dict[str, Any]:
        md: Any = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name
        )
        return dict(md)

    def get_revision(self) -> str:
        """The revision of the spec as stored now."""
        return ModelDeploymentSpec.model_validate(self.get()["spec"]).revision()

    def status(self) -> dict[str, Any]:
        return dict(self.get().get("status") or {})

    def wait_object(self, predicate: Any, what: str, timeout: float = 90) -> dict[str, Any]:
        """The whole object, as first read with a status satisfying `predicate`."""
        seen: list[dict[str, Any]] = [{}]

        def matches() -> bool:
            seen[0] = self.get()
            return bool(predicate(seen[0].get("status") or {}))

        try:
            wait_until(matches, timeout=timeout, what=what)
        except TimeoutError as exc:
            status = json.dumps(seen[0].get("status"), indent=1, default=str)[-3000:]
            raise TimeoutError(f"{exc}\nlast status:\n{status}") from None
        return seen[0]

    def wait_status(self, predicate: Any, what: str, timeout: float = 90) -> dict[str, Any]:
        self.wait_object(predicate, what, timeout)
        return self.status()

    def wait_canary(self, version: str) -> str:
        """The revision of `version`, once it is the canary."""
        status = self.wait_status(
            lambda st: (st.get("canary") or {}).get("version") == version, f"canary {version}"
        )
        return str(status["canary"]["revision"])

    def wait_healthy(self, version: str, timeout: float = 90) -> dict[str, Any]:
        return self.wait_status(
            lambda s: (
                s.get("phase") == "Healthy"
                and (s.get("stable") or {}).get("version") == version
                and not s.get("canary")
            ),
            f"Healthy on version {version}",
            timeout,
        )

    def condition(self, type_: str) -> dict[str, Any] | None:
        for c in self.status().get("conditions", []):
            if c["type"] == type_:
                return dict(c)
        return None

    def route_canary_weight(self) -> int:
        istio = self.route_plural == "virtualservices"
        rules = self.route_spec()["http" if istio else "rules"]
        weight = canary_weight(rules, f"{self.name}-canary", istio)
        assert weight is not None, "no canary backendRef"
        return weight

    def wait_route_weight(self, weight: int, timeout: float = 30) -> None:
        """The route's canary weight reaching `weight`: the operator records a decision
        in the status first, then carries it out (moments later)."""
        wait_until(
            lambda: self.route_canary_weight() == weight,
            timeout=timeout,
            what=f"the route's canary weight at {weight}",
        )

    def events(self) -> list[tuple[str, str, str]]:
        items: list[Any] = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={self.name}"
        ).items
        return [(e.type, e.reason, e.message) for e in items]

    def wait_events(self, predicate: Any, what: str, timeout: float = 30) -> list[str]:
        """The messages of the events (type, reason, message) matching `predicate`, once
        there is one: events are posted after the status that records them is written."""
        found: list[str] = []

        def posted() -> bool:
            found[:] = [m for t, r, m in self.events() if predicate(t, r, m)]
            return bool(found)

        wait_until(posted, timeout=timeout, what=what)
        return found

    def pods(self, revision: str) -> dict[str, bool]:
        """Pod UID -> Ready, for one revision."""
        pods: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"modelrollout.io/revision={revision}"
        ).items
        return {
            p.metadata.uid: any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or []
            )
            for p in pods
            if p.metadata.deletion_timestamp is None
        }

    def close(self) -> None:
        if self.recorder:
            self.recorder.stop()
        self.exporter.stop()
        self.prometheus.remove_target(f"{self.namespace}-{self.name}")
