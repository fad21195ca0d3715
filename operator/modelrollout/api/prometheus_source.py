"""spec.analysis.prometheus: where metrics come from, how to reach it, and what its
series are called."""

from __future__ import annotations

from pydantic import Field

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


class MetricConventions(Model):
    """Names of the series the built-in templates and the judge's checks read. Labels
    expected on every one: `namespace`, `model` (the ModelDeployment name) and `version`
    (spec.model.version); the request counter also carries the HTTP status code. Export
    counters at zero for the codes and classes a server knows, so a series exists before
    its first increment."""

    requests_total: str = Field(
        default="model_requests_total",
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Counter of requests served.",
    )
    request_duration_seconds: str = Field(
        default="model_request_duration_seconds",
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Histogram of request latency in seconds (the _bucket series are queried).",
    )
    code_label: str = Field(
        default="code",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="Label of requests_total holding the HTTP status code; 5xx counts as an error.",
    )
    predictions_total: str = Field(
        default="model_predictions_total",
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Counter of predictions by predicted class (the judge's predictions check).",
    )
    prediction_label: str = Field(
        default="class",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="Label of predictions_total holding the predicted class.",
    )
    invalid_outputs_total: str = Field(
        default="model_output_invalid_total",
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description=(
            "Counter of answers whose output failed the server's validation (the judge's "
            "ratio check counts it against requests_total unless told otherwise)."
        ),
    )


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
