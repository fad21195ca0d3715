"""Provider names to implementations; an unknown name is an error, never a default."""

from __future__ import annotations

from modelrollout.api.spec import Analysis
from modelrollout.metrics.prometheus import Credentials, PrometheusProvider
from modelrollout.metrics.provider import MetricsProvider


def provider_for(analysis: Analysis, credentials: Credentials | None) -> MetricsProvider:
    # One provider today; the spec's field name is the registry key.
    return PrometheusProvider(analysis.prometheus, credentials)
