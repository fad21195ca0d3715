"""Provider names to implementations; an unknown name is an error, never a default.

The spec names a provider by its key under spec.analysis (today `prometheus`); a second
provider is a sibling key, a file of its own and one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from modelrollout.api.spec import Analysis, SecretRef
from modelrollout.metrics.prometheus import Credentials, PrometheusProvider
from modelrollout.metrics.provider import MetricsProvider

# key -> (analysis, the credentials Secret's data or None) -> provider
PROVIDERS: dict[str, Callable[[Analysis, Mapping[str, str] | None], MetricsProvider]] = {
    "prometheus": lambda analysis, secret: PrometheusProvider(
        analysis.prometheus, Credentials.from_secret(secret) if secret is not None else None
    ),
}


def credentials_secret(analysis: Analysis) -> SecretRef | None:
    """The Secret holding the provider's credentials, if it names one."""
    return analysis.prometheus.auth_secret_ref


def provider_for(analysis: Analysis, secret: Mapping[str, str] | None) -> MetricsProvider:
    """Raises ProviderConfigError when the credentials cannot work."""
    return PROVIDERS["prometheus"](analysis, secret)
