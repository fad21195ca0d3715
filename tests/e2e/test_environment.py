"""The test environment itself is real: these would fail against a mock API server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from prometheus_api_client import PrometheusConnect
from prometheus_client import CollectorRegistry, Counter, start_http_server

from testenv.crds import apply_crds
from testenv.ports import free_port
from testenv.procs import wait_until
from testenv.prometheus import LocalPrometheus


def _condition(conditions: list[Any] | None, kind: str) -> str | None:
    return next((c.status for c in conditions or [] if c.type == kind), None)


def test_deployment_becomes_available_with_ready_pods(
    api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app": "model-server"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "model-server"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "server", "image": "example.test/model:1"}]},
                },
            },
        },
    )

    def available() -> bool:
        dep = apps.read_namespaced_deployment("model-server", namespace)
        return (
            _condition(dep.status.conditions, "Available") == "True"
            and dep.status.ready_replicas == 2
        )

    wait_until(available, timeout=60, what="Deployment Available with 2 ready replicas")
    pods = core.list_namespaced_pod(namespace, label_selector="app=model-server").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running"
        assert _condition(pod.status.conditions, "Ready") == "True"
        assert pod.spec.node_name, "the scheduler bound the pod to a node"


WIDGET_GROUP = "e2e.modelrollout.io"


@pytest.fixture
def widget_crd(api: client.ApiClient) -> Iterator[str]:
    plural = f"widgets{uuid.uuid4().hex[:6]}"
    name = f"{plural}.{WIDGET_GROUP}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": WIDGET_GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget" + plural[7:]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.size <= self.limit",
                                            "message": "size above limit",
                                        }
                                    ],
                                    "properties": {
                                        "size": {"type": "integer", "minimum": 1},
                                        "limit": {"type": "integer", "default": 10},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    apply_crds(api, [crd])
    yield plural
    client.ApiextensionsV1Api(api).delete_custom_resource_definition(name)


def test_crd_is_established_and_invalid_resources_are_rejected(
    api: client.ApiClient, namespace: str, widget_crd: str
) -> None:
    custom = client.CustomObjectsApi(api)
    kind = "Widget" + widget_crd[7:]

    def create(spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{WIDGET_GROUP}/v1",
            "kind": kind,
            "metadata": {"name": "w"},
            "spec": spec,
        }
        result: dict[str, Any] = custom.create_namespaced_custom_object(
            WIDGET_GROUP, "v1", namespace, widget_crd, body
        )
        return result

    for bad, says in [
        ({"size": "large"}, "spec.size"),  # wrong type
        ({"size": 0}, "spec.size"),  # below the minimum
        ({}, "spec.size"),  # required field missing
        ({"size": 11}, "size above limit"),  # the CEL rule, against the defaulted limit
    ]:
        with pytest.raises(ApiException) as rejected:
            create(bad)
        assert rejected.value.status == 422, bad
        assert says in rejected.value.body, rejected.value.body

    created = create({"size": 3})
    assert created["spec"] == {"size": 3, "limit": 10}, "the schema default was applied"


def test_service_account_is_denied_outside_its_role(api: client.ApiClient, namespace: str) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader-reads-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token

    as_reader = client.Configuration()
    as_reader.host = api.configuration.host
    as_reader.ssl_ca_cert = api.configuration.ssl_ca_cert
    as_reader.api_key = {"authorization": token}
    as_reader.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(as_reader) as reader_api:
        reader = client.CoreV1Api(reader_api)
        # The authorizer sees the new binding through an informer: wait for it, not a sleep.
        wait_until(
            lambda: reader.list_namespaced_pod(namespace).items is not None,
            timeout=15,
            what="the RoleBinding to take effect",
        )
        for forbidden in (
            lambda: reader.list_namespaced_secret(namespace),
            lambda: reader.list_namespaced_pod("default"),
            lambda: reader.delete_collection_namespaced_pod(namespace),
        ):
            with pytest.raises(ApiException) as denied:
                forbidden()
            assert denied.value.status == 403
            assert f"system:serviceaccount:{namespace}:reader" in denied.value.body


def test_prometheus_scrapes_a_target_and_answers_promql(prometheus: LocalPrometheus) -> None:
    registry = CollectorRegistry()
    requests_total = Counter(
        "modelrollout_e2e_requests", "test requests", ["version"], registry=registry
    )
    requests_total.labels(version="2.1.0").inc(42)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus.add_target("env-test", f"127.0.0.1:{port}", {"suite": "environment"})
        prom = PrometheusConnect(url=prometheus.url, disable_ssl=True)
        query = 'modelrollout_e2e_requests_total{version="2.1.0", suite="environment"}'

        def value() -> float | None:
            result = prom.custom_query(query)
            return float(result[0]["value"][1]) if result else None

        wait_until(lambda: value() == 42.0, timeout=15, what="the first scraped value")
        requests_total.labels(version="2.1.0").inc(8)
        wait_until(lambda: value() == 50.0, timeout=15, what="a later scrape to see the increment")
    finally:
        prometheus.remove_target("env-test")
        server.shutdown()
        thread.join()


def _httproute(weights: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"route-{uuid.uuid4().hex[:6]}"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": f"backend-{i}", "port": 80, "weight": w}
                        for i, w in enumerate(weights)
                    ]
                }
            ],
        },
    }


def test_httproute_crd_accepts_weights_and_rejects_out_of_range(
    api: client.ApiClient, namespace: str, gateway_api_crds: list[str]
) -> None:
    assert "httproutes.gateway.networking.k8s.io" in gateway_api_crds
    custom = client.CustomObjectsApi(api)
    gvr = ("gateway.networking.k8s.io", "v1", namespace, "httproutes")

    route = custom.create_namespaced_custom_object(*gvr, _httproute([95, 5]))
    stored = custom.get_namespaced_custom_object(*gvr, route["metadata"]["name"])
    assert [b["weight"] for b in stored["spec"]["rules"][0]["backendRefs"]] == [95, 5]

    for weights in ([-1, 100], [1_000_001, 0]):
        with pytest.raises(ApiException) as rejected:
            custom.create_namespaced_custom_object(*gvr, _httproute(weights))
        assert rejected.value.status == 422
        assert "weight" in rejected.value.body


def test_istio_virtualservice_crd_installs(
    api: client.ApiClient, namespace: str, istio_crds: list[str]
) -> None:
    assert "virtualservices.networking.istio.io" in istio_crds
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "model"},
        "spec": {
            "hosts": ["model"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "model-stable"}, "weight": 90},
                        {"destination": {"host": "model-canary"}, "weight": 10},
                    ]
                }
            ],
        },
    }
    created = custom.create_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "virtualservices", body
    )
    assert [r["weight"] for r in created["spec"]["http"][0]["route"]] == [90, 10]
