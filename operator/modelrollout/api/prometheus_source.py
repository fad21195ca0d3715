"""spec.analysis.prometheus: where metrics come from, how to reach it, and what its
series are called."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from modelrollout.api.base import Model, Rule
from modelrollout.api.durations import parse_duration
from modelrollout.api.fields import ZERO, DNSLabel, Duration

MAX_TIMEOUT = "30s"  # of one query
MIN_PERIOD = "1s"  # between measurements, and between the scrapes the judge follows


class SecretRef(Model):
    name: DNSLabel = Field(description="Name of a Secret in the ModelDeployment's namespace.")


class CASource(Model):
    """A CA certificate (PEM) in a ConfigMap or a Secret of the ModelDeployment's
    namespace: exactly one of the two."""

    __rules__ = (
        Rule(
            "[has(self.configMap), has(self.secret)].exists_one(x, x)",
            "a CA comes from exactly one of configMap or secret",
            lambda ca: (ca.config_map is None) != (ca.secret is None),
        ),
    )
    config_map: DNSLabel | None = Field(default=None, description="Name of a ConfigMap.")
    secret: DNSLabel | None = Field(default=None, description="Name of a Secret.")
    key: str = Field(
        default="ca.crt",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="The key holding the PEM certificate(s).",
    )


_METRIC = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
_LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"

# The names each kind of server exports, by field; a name written in the spec wins.
# vLLM's HTTP counter is prometheus-fastapi-instrumentator's (status grouped as 2xx,
# 5xx: `5..` matches it); SGLang exports no status code, so its errors are best counted
# with a ratio check of sglang:num_aborted_requests_total.
SERVERS: dict[str, dict[str, str]] = {
    "modelServer": {
        "requestsTotal": "model_requests_total",
        "requestDurationSeconds": "model_request_duration_seconds",
        "codeLabel": "code",
        "timeToFirstTokenSeconds": "vllm:time_to_first_token_seconds",
        "interTokenLatencySeconds": "vllm:inter_token_latency_seconds",
        "queueDepth": "vllm:num_requests_waiting",
        "kvCacheUsage": "vllm:kv_cache_usage_perc",
    },
    "vllm": {
        "requestsTotal": "http_requests_total",
        "requestDurationSeconds": "vllm:e2e_request_latency_seconds",
        "codeLabel": "status",
        "timeToFirstTokenSeconds": "vllm:time_to_first_token_seconds",
        "interTokenLatencySeconds": "vllm:inter_token_latency_seconds",
        "queueDepth": "vllm:num_requests_waiting",
        "kvCacheUsage": "vllm:kv_cache_usage_perc",
    },
    "sglang": {
        "requestsTotal": "sglang:num_requests_total",
        "requestDurationSeconds": "sglang:e2e_request_latency_seconds",
        "codeLabel": "code",
        "timeToFirstTokenSeconds": "sglang:time_to_first_token_seconds",
        "interTokenLatencySeconds": "sglang:inter_token_latency_seconds",
        "queueDepth": "sglang:num_queue_reqs",
        "kvCacheUsage": "sglang:token_usage",
    },
}


def _server_default(wire: str, description: str) -> Any:
    """A name whose default depends on `server`. The CRD gives it no default (the API
    server would store the generic name and hide the choice of server from us): it is
    filled in when the spec is read."""
    named = ", ".join(f"{server}: {names[wire]}" for server, names in SERVERS.items())
    return Field(
        default=SERVERS["modelServer"][wire],
        pattern=_LABEL if wire.endswith("Label") else _METRIC,
        max_length=200,
        description=f"{description} Default by server: {named}.",
        json_schema_extra=lambda schema: schema.pop("default", None),  # type: ignore[arg-type]
    )


class MetricConventions(Model):
    """Names of the series the built-in templates and the judge's checks read. Labels
    expected on every one: `namespace`, `model` (the ModelDeployment name) and `version`
    (spec.model.version); a server that does not label its series so gets them from
    scrape relabeling (README: "Labels from the pod"). The request counter also carries
    the HTTP status code. Export counters at zero for the codes and classes a server
    knows, so a series exists before its first increment."""

    server: Literal["modelServer", "vllm", "sglang"] = Field(
        default="modelServer",
        description=(
            "Which server's names to default to: modelServer (this project's "
            "conventions), vllm or sglang. A name written here wins over the server's."
        ),
    )
    requests_total: str = _server_default("requestsTotal", "Counter of requests served.")
    request_duration_seconds: str = _server_default(
        "requestDurationSeconds",
        "Histogram of request latency in seconds (the _bucket series are queried).",
    )
    code_label: str = _server_default(
        "codeLabel",
        "Label of requests_total holding the HTTP status code; 5xx counts as an error.",
    )
    time_to_first_token_seconds: str = _server_default(
        "timeToFirstTokenSeconds",
        "Histogram of an LLM's time to first token (the timeToFirstToken check).",
    )
    inter_token_latency_seconds: str = _server_default(
        "interTokenLatencySeconds",
        "Histogram of an LLM's time between output tokens (the interTokenLatency check).",
    )
    queue_depth: str = _server_default(
        "queueDepth", "Gauge of requests waiting (the queueDepth metric template)."
    )
    kv_cache_usage: str = _server_default(
        "kvCacheUsage", "Gauge of KV-cache usage, 0..1 (the kvCacheUsage metric template)."
    )
    predictions_total: str = Field(
        default="model_predictions_total",
        pattern=_METRIC,
        description="Counter of predictions by predicted class (the judge's predictions check).",
    )
    prediction_label: str = Field(
        default="class",
        pattern=_LABEL,
        description="Label of predictions_total holding the predicted class.",
    )
    invalid_outputs_total: str = Field(
        default="model_output_invalid_total",
        pattern=_METRIC,
        description=(
            "Counter of answers whose output failed the server's validation (the judge's "
            "ratio check counts it against requests_total unless told otherwise)."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _server_names(cls, data: Any) -> Any:
        """Fill the names the spec leaves out from its server's (wire or Python names)."""
        if not isinstance(data, dict):
            return data
        server = SERVERS.get(str(data.get("server", "modelServer")))
        if server is None:
            return data  # the field's own validation says why
        fields = {f.alias: name for name, f in cls.model_fields.items() if f.alias}
        given = {**data}
        for wire, value in server.items():
            if wire not in given and fields[wire] not in given:
                given[wire] = value
        return given


class PrometheusSource(Model):
    __rules__ = (
        # A query holds one of the operator's shared workers while it waits: bounded.
        Rule(
            "duration(self.timeout) > duration('0s') && duration(self.timeout) <= "
            f"duration('{MAX_TIMEOUT}')",
            f"timeout must be longer than 0s and at most {MAX_TIMEOUT}",
            lambda source: ZERO < parse_duration(source.timeout) <= parse_duration(MAX_TIMEOUT),
        ),
        # Looks follow scrapes: shorter would make a loop of queries, writes and Events.
        Rule(
            f"duration(self.scrapeInterval) >= duration('{MIN_PERIOD}')",
            f"scrapeInterval must be at least {MIN_PERIOD}",
            lambda source: parse_duration(source.scrape_interval) >= parse_duration(MIN_PERIOD),
        ),
        # A token goes only where nobody between can read it.
        Rule(
            "!has(self.authSecretRef) || (self.url.startsWith('https://') && "
            "!(has(self.insecureSkipVerify) && self.insecureSkipVerify))",
            "authSecretRef needs an https url with TLS verified (not insecureSkipVerify)",
            lambda source: (
                source.auth_secret_ref is None
                or (source.url.startswith("https://") and not source.insecure_skip_verify)
            ),
        ),
        Rule(
            "!has(self.ca) || !(has(self.insecureSkipVerify) && self.insecureSkipVerify)",
            "set ca or insecureSkipVerify, not both",
            lambda source: source.ca is None or not source.insecure_skip_verify,
        ),
    )
    url: str = Field(
        # No user:password@ (credentials go in authSecretRef), query or fragment: the
        # operator appends the API's path.
        pattern=r"^https?://[^/@?#\x00-\x20\x7f]+(/[^?#\x00-\x20\x7f]*)?$",
        max_length=2048,
        description=(
            "Prometheus base URL, such as http://prometheus.monitoring:9090 (no "
            "credentials, query or fragment in it). The operator's allow-list may refuse it."
        ),
    )
    timeout: Duration = Field(default="5s", description="Timeout of one query.")
    auth_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "Secret with `urls` (the Prometheus URLs its credentials are for, "
            "whitespace-separated; they are sent nowhere else) and `token` (bearer) or "
            "`username` and `password` (basic auth). Needs an https url."
        ),
    )
    insecure_skip_verify: bool = Field(
        default=False,
        description="Skip TLS verification (test setups only; never with authSecretRef).",
    )
    ca: CASource | None = Field(
        default=None,
        description="Verify Prometheus's certificate with this CA alone (a private CA).",
    )
    scrape_interval: Duration = Field(
        default="15s",
        description=(
            "How often Prometheus scrapes the model servers. An analysis window must span "
            "at least two scrapes, or rate() has no data to give."
        ),
    )
    conventions: MetricConventions = Field(
        default_factory=MetricConventions,
        description="Metric names the built-in templates query.",
        json_schema_extra={"default": {}},
    )
