"""Prometheus through prometheus-api-client: timeouts, no retries (the next interval retries),
bearer or basic auth from the Secret named in authSecretRef, and answers read into numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import Metric, PrometheusSource
from modelrollout.metrics.promql import metric_query, sample_size
from modelrollout.metrics.provider import ProviderConfigError, ProviderError, Target


@dataclass(frozen=True, repr=False)
class Credentials:
    """From the Secret named in authSecretRef; never logged (repr hides it)."""

    token: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"

    @classmethod
    def from_secret(cls, data: Mapping[str, str]) -> Credentials:
        """`token` (bearer), or `username` and `password` (basic auth)."""
        if "token" not in data and "username" not in data:
            raise ProviderConfigError("it has neither `token` nor `username`/`password`")
        return cls(data.get("token"), data.get("username"), data.get("password"))


def single_value(result: Any) -> float | None:
    """The one number in an instant-query result; None when empty; ProviderError saying
    what came back when it is anything else."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _number(result[1])  # a scalar: [timestamp, "value"]
    if not isinstance(result, list):
        raise ProviderError(f"unexpected result shape: {type(result).__name__}")
    if not result:
        return None
    if len(result) > 1:
        raise ProviderError(
            f"query returned {len(result)} series; it must return one number "
            "(aggregate it, e.g. with sum())"
        )
    try:
        return _number(result[0]["value"][1])
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(f"unexpected series: {result[0]!r:.200}") from exc


def _number(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise ProviderError(f"the value {raw!r:.50} is not a number") from exc


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
        self.conventions = source.conventions
        self._client = PrometheusConnect(
            url=self.url,
            headers=headers or None,
            auth=auth,
            disable_ssl=source.insecure_skip_verify,
            retry=Retry(total=0, raise_on_status=False),
            timeout=self.timeout,
        )

    def metric_query(self, metric: Metric, target: Target) -> str:
        return metric_query(metric, target, self.conventions)

    def sample_size_query(self, target: Target) -> str:
        return sample_size(target, self.conventions)

    def value(self, query: str) -> float | None:
        return single_value(self._run(query))

    def _run(self, query: str) -> Any:
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


def _cause(exc: requests.RequestException) -> str:
    """The underlying reason's class (e.g. NameResolutionError), not urllib3's long URL text."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return type(reason).__name__ if isinstance(reason, Exception) else type(exc).__name__


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."
