"""LAB-ONLY: InferencePools in the stand-in gateway, as an Envoy-based Gateway API
implementation of the Inference Extension wires them:

- a backendRef of kind InferencePool goes to one Envoy cluster per pool; each endpoint
  is labelled (metadata `envoy.lb`) with the `podIP:targetPort` the picker names it by,
  and the cluster load-balances by that label (a subset load balancer), so Envoy sends
  a request to the pod the picker chose. As with the original-destination cluster an
  Envoy-based gateway uses, any ready pod the picker names is reachable, whether or not
  the gateway has yet seen the pool select it (the picker's watch and the gateway's
  reads do not change at the same instant: a promotion re-points a pool's selector);
- the pool's endpoint picker (its `endpointPickerRef` Service, found among the lab's
  picker processes) is called through Envoy's `ext_proc` filter for requests routed to
  that pool: the filter is off by default and turned on, with the picker's gRPC
  cluster, by the per-filter config of the weighted cluster (a route splitting between
  two pools calls the picker of the pool the request was weighed to);
- the picker's `x-gateway-destination-endpoint` header becomes that `envoy.lb` label
  (`header_to_metadata`), and `FailOpen` lets a request through when it does not answer.

The lab's pods listen on 127.0.0.1 (a port each) while the cluster knows them by a pod
IP made from the port (EndpointSlices refuse loopback addresses): the labels map one to
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from lab.kubelet import Endpoint

GROUP, VERSION, PLURAL, KIND = (
    "inference.networking.k8s.io",
    "v1",
    "inferencepools",
    "InferencePool",
)
DESTINATION = "x-gateway-destination-endpoint"  # the Endpoint Picker Protocol's name
EXT_PROC = "envoy.filters.http.ext_proc"
_EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3"
_FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
NO_PICKER = "lab.epp.none"  # the filter's default service; never called (the filter is off)
PICKER_TIMEOUT = "5s"  # per message: a busy 2-core machine answers in milliseconds, mostly


@dataclass(frozen=True)
class Pool:
    cluster: str  # Envoy's cluster of the pool's pods
    picker: str | None  # Envoy's cluster of its picker; None: no such picker running
    fail_open: bool
    endpoints: dict[int, str]  # every ready pod: 127.0.0.1 port -> podIP:targetPort
    selects: bool  # the pool selects a ready pod (else: as a Service without endpoints)


def pool_cluster(namespace: str, pool: str) -> str:
    return f"{namespace}.{pool}.pool"


def picker_cluster(namespace: str, service: str) -> str:
    return f"lab.epp.{namespace}.{service}"


def read_pools(
    custom: client.CustomObjectsApi,
    namespace: str,
    ready: list[Endpoint],
    pickers: Mapping[str, int],
) -> dict[str, Pool]:
    """Each InferencePool in the namespace, with the ready pods it selects and its
    picker (by the Service its endpointPickerRef names, among `pickers`)."""
    listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    pools = {}
    for item in listed["items"]:
        spec = item["spec"]
        selector = spec.get("selector", {}).get("matchLabels") or {}
        target = spec["targetPorts"][0]["number"]
        ref = spec.get("endpointPickerRef") or {}
        name = item["metadata"]["name"]
        pools[name] = Pool(
            cluster=pool_cluster(namespace, name),
            picker=picker_cluster(namespace, ref["name"]) if ref.get("name") in pickers else None,
            fail_open=ref.get("failureMode") == "FailOpen",
            endpoints={e.port: f"{e.ip}:{target}" for e in ready},
            selects=any(
                selector and all(e.labels.get(k) == v for k, v in selector.items()) for e in ready
            ),
        )
    return pools


def is_pool(ref: Mapping[str, Any]) -> bool:
    return ref.get("kind") == KIND and ref.get("group") == GROUP


def weighted_cluster_config(pool: Pool) -> dict[str, Any]:
    """The per-filter config of a weighted cluster to `pool`: ext_proc on, to its picker."""
    overrides: dict[str, Any] = {
        "grpc_service": {
            "envoy_grpc": {"cluster_name": pool.picker or NO_PICKER},
            "timeout": PICKER_TIMEOUT,
        },
        "failure_mode_allow": pool.fail_open,
    }
    per_route = {"@type": f"{_EXT_PROC}.ExtProcPerRoute", "overrides": overrides}
    return {EXT_PROC: {"@type": _FILTER_CONFIG, "config": per_route}}


def http_filters() -> list[dict[str, Any]]:
    """Envoy's filters before the router: the picker (off unless a route turns it on),
    then its header as the load balancer's label."""
    ext_proc = {
        "@type": f"{_EXT_PROC}.ExternalProcessor",
        "grpc_service": {"envoy_grpc": {"cluster_name": NO_PICKER}, "timeout": PICKER_TIMEOUT},
        "message_timeout": PICKER_TIMEOUT,
        # The Endpoint Picker Protocol streams the request body in full duplex, which
        # needs its trailers too; the response goes straight to the client.
        "processing_mode": {
            "request_header_mode": "SEND",
            "request_body_mode": "FULL_DUPLEX_STREAMED",
            "request_trailer_mode": "SEND",
            "response_header_mode": "SKIP",
            "response_body_mode": "NONE",
            "response_trailer_mode": "SKIP",
        },
        # The weighted cluster the request was weighed to stays: only the pod changes.
        "route_cache_action": "RETAIN",
    }
    to_label = {
        "@type": ("type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config"),
        "request_rules": [
            {
                "header": DESTINATION,
                "on_header_present": {"metadata_namespace": "envoy.lb", "key": DESTINATION},
            }
        ],
    }
    return [
        {"name": EXT_PROC, "disabled": True, "typed_config": ext_proc},
        {"name": "envoy.filters.http.header_to_metadata", "typed_config": to_label},
    ]
