"""Prometheus through prometheus-api-client: timeouts, no retries (the next interval retries),
and bearer or basic auth from a Secret the reconciler read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import PrometheusSource
from modelrollout.metrics.provider import ProviderError


@dataclass(frozen=True, repr=False)
class Credentials:
    """From the Secret named in authSecretRef; never logged (repr hides it)."""

    token: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


class PrometheusProvider:
    def __init__(self, source: PrometheusSource, credentials: Credentials | None = None) -> None:
        headers = {}
        auth = None
        if credentials and credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        elif credentials and credentials.username is not None:
            auth = (credentials.username, credentials.password or "")
        self.url = source.url.rstrip("/")
        self.timeout = parse_duration(source.timeout).total_seconds()
        self._client = PrometheusConnect(
            url=self.url,
            headers=headers or None,
            auth=auth,
            disable_ssl=source.insecure_skip_verify,
            retry=Retry(total=0, raise_on_status=False),
            timeout=self.timeout,
        )

    def run_query(self, query: str) -> Any:
        try:
            return self._client.custom_query(query)
        except PrometheusApiClientException as exc:
            raise ProviderError(f"Prometheus refused the query: {_short(exc)}") from exc
        except requests.Timeout as exc:
            raise ProviderError(
                f"Prometheus at {self.url} did not answer within {self.timeout:g}s"
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(f"Prometheus at {self.url} unreachable ({_cause(exc)})") from exc

    def is_online(self) -> bool:
        try:
            return bool(self._client.check_prometheus_connection())
        except requests.RequestException:
            return False


def _cause(exc: requests.RequestException) -> str:
    """The underlying reason's class (e.g. NameResolutionError), not urllib3's long URL text."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return type(reason).__name__ if isinstance(reason, Exception) else type(exc).__name__


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."
