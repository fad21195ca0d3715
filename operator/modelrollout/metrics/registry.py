"""Provider names to implementations; an unknown name is an error, never a default.

The spec names a provider by its key under spec.analysis (today `prometheus`); a second
provider is a sibling key, a file of its own and one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelrollout.api.spec import Analysis, CASource, SecretRef
from modelrollout.metrics.credentials import Credentials
from modelrollout.metrics.endpoints import EndpointPolicy, resolve
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.metrics.provider import MetricsProvider
from modelrollout.metrics.query_rates import UNLIMITED, QueryRates


@dataclass(frozen=True)
class ProviderInputs:
    """What a provider is made from besides the spec: read from the cluster by the
    reconciler, and the operator's own allow-list."""

    policy: EndpointPolicy
    secret: Mapping[str, str] | None = None  # the credentials Secret's data (base64)
    ca_pem: str | None = None
    rates: QueryRates = UNLIMITED  # the operator's limits toward each endpoint


PROVIDERS: dict[str, Callable[[Analysis, ProviderInputs], MetricsProvider]] = {
    "prometheus": lambda analysis, given: PrometheusProvider(
        analysis.prometheus,
        Credentials.from_secret(given.secret) if given.secret is not None else None,
        given.policy,
        given.ca_pem,
        given.rates,
    ),
}


def credentials_secret(analysis: Analysis) -> SecretRef | None:
    """The Secret holding the provider's credentials, if it names one."""
    return analysis.prometheus.auth_secret_ref


def trusted_ca(analysis: Analysis) -> CASource | None:
    """Where the CA to verify the provider with is, if the spec names one."""
    return analysis.prometheus.ca


def endpoint_refusal(analysis: Analysis, policy: EndpointPolicy) -> str | None:
    """Why the allow-list refuses the provider's URL (as it resolves now), or None."""
    parts = urlsplit(analysis.prometheus.url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"analysis.prometheus.url: the port of {host} is not a port number"
    why = policy.refusal(host, resolve(host, port))
    return None if why is None else f"analysis.prometheus.url: {why}"


def provider_for(analysis: Analysis, given: ProviderInputs) -> MetricsProvider:
    """Raises ProviderConfigError when the credentials or the CA cannot work."""
    return PROVIDERS["prometheus"](analysis, given)
