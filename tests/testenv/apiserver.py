"""What kube-apiserver counts: requests by resource, subresource and verb."""

from __future__ import annotations

from collections import Counter

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
Request = tuple[str, str, str, str, str]  # (resource, subresource, verb, group, code)


# API Priority and Fairness files every request by a ServiceAccount outside kube-system
# under this flow schema: with the operator authenticating as one, its requests alone.
SERVICE_ACCOUNTS_FLOW = "service-accounts"


def _metrics(api: client.ApiClient) -> str:
    headers: dict[str, str] = {}
    api.update_params_for_auth(headers, [], ["BearerToken"], "", "", None)
    url = f"{api.configuration.host}/metrics"
    response = api.rest_client.request("GET", url, headers=headers)  # type: ignore[no-untyped-call]
    response.read()
    return str(response.data.decode())


def dispatched(api: client.ApiClient, flow_schema: str = SERVICE_ACCOUNTS_FLOW) -> int:
    """Requests API Priority and Fairness dispatched under `flow_schema`."""
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(_metrics(api))
        for sample in family.samples
        if sample.name == "apiserver_flowcontrol_dispatched_requests_total"
        and sample.labels.get("flow_schema") == flow_schema
    )


def request_counts(api: client.ApiClient) -> Counter[Request]:
    """apiserver_request_total, summed over scopes and versions."""
    counts: Counter[Request] = Counter()
    for family in text_string_to_metric_families(_metrics(api)):
        for sample in family.samples:
            if sample.name == "apiserver_request_total":
                labels = sample.labels
                key = (
                    labels.get("resource", ""),
                    labels.get("subresource", ""),
                    labels["verb"],
                    labels.get("group", ""),
                    labels.get("code", ""),
                )
                counts[key] += int(sample.value)
    return counts
