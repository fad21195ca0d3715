"""Prometheus's HTTP API: one GET per query with a timeout and no retries (the next
interval retries), bearer or basic auth from the Secret named in authSecretRef, and
answers read into numbers (prometheus_answer.py).

Plain requests rather than prometheus-api-client: its custom_query drops the result type
and raises KeyError or a JSON error for a malformed answer, where every shape must be
named in the measurement.
"""

from __future__ import annotations

import ssl
import time

import requests
import urllib3

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import Metric, PrometheusSource
from modelrollout.engine.checks.reads import LookPlan, Tallies
from modelrollout.metrics.bounded_read import TooLarge, TooSlow, read_bounded
from modelrollout.metrics.credentials import Credentials
from modelrollout.metrics.endpoints import OPEN, EndpointPolicy, EndpointRefused
from modelrollout.metrics.guarded_http import guarded_session
from modelrollout.metrics.prometheus_answer import Answer, read_answer, read_labelled
from modelrollout.metrics.promql import judge_sums, metric_query, sample_size
from modelrollout.metrics.provider import (
    ProviderConfigError,
    ProviderError,
    Target,
)
from modelrollout.metrics.query_rates import UNLIMITED, QueryRates
from modelrollout.rate_limits import Priority

# An answer holds one number, or a few series for the judge: a few KiB. Far more is a
# wrong URL, or a hostile one (a gzip bomb took 815 MiB before answers were bounded).
MAX_ANSWER_BYTES = 1024 * 1024


class PrometheusProvider:
    def __init__(
        self,
        source: PrometheusSource,
        credentials: Credentials | None = None,
        policy: EndpointPolicy = OPEN,
        ca_pem: str | None = None,
        rates: QueryRates = UNLIMITED,
    ) -> None:
        self.url = source.url.rstrip("/")
        self.rate_limit = rates.bucket(self.url)
        self.timeout = parse_duration(source.timeout).total_seconds()
        self.conventions = source.conventions
        if credentials is not None:
            credentials.check_bound_to(self.url, source.insecure_skip_verify)
        try:
            self.session = guarded_session(policy, not source.insecure_skip_verify, ca_pem)
        except ssl.SSLError as exc:
            raise ProviderConfigError(f"the CA is not a PEM certificate ({exc.reason})") from None
        if credentials and credentials.token:
            self.session.headers["Authorization"] = f"Bearer {credentials.token}"
        elif credentials and credentials.username is not None:
            self.session.auth = (credentials.username, credentials.password or "")

    def metric_query(self, metric: Metric, target: Target) -> str:
        return metric_query(metric, target, self.conventions)

    def sample_size_query(self, target: Target) -> str:
        return sample_size(target, self.conventions)

    def value(self, query: str) -> float | None:
        return read_answer(self._get(query))

    def tallies(self, plan: LookPlan, namespace: str, model: str) -> Tallies:
        answer = self._get(judge_sums(plan, namespace, model))
        return read_labelled(answer, ("side", "check", "part", "bucket"))

    def _get(self, query: str) -> Answer:
        """One query within `timeout` from start to the answer's last byte, and at most
        MAX_ANSWER_BYTES of decoded answer (bounded_read)."""
        self.rate_limit.take(Priority.ANALYSIS)  # before the deadline starts: our own wait
        deadline = time.monotonic() + self.timeout
        slow = f"Prometheus at {self.url} did not answer within {self.timeout:g}s"
        try:
            with self.session.get(
                f"{self.url}/api/v1/query",
                params={"query": query},
                timeout=self.timeout,
                allow_redirects=False,  # the spec's URL, and no other
                stream=True,
            ) as response:
                if response.is_redirect:
                    raise ProviderError(
                        f"Prometheus at {self.url} answered HTTP {response.status_code}, a "
                        "redirect: not followed (point analysis.prometheus.url at Prometheus)"
                    )
                body = read_bounded(response, deadline, MAX_ANSWER_BYTES)
        except EndpointRefused as exc:
            raise ProviderError(f"Prometheus at {self.url}: {exc}") from exc
        except (requests.Timeout, TooSlow) as exc:
            raise ProviderError(slow) from exc
        except TooLarge as exc:
            raise ProviderError(
                f"Prometheus at {self.url} answered with more than {MAX_ANSWER_BYTES} bytes "
                "(decoded): not read further"
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise ProviderError(f"TLS to Prometheus at {self.url} failed ({_cause(exc)})") from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise ProviderError(f"Prometheus at {self.url} unreachable ({_cause(exc)})") from exc
        text = body.decode("utf-8", errors="replace")  # JSON is UTF-8 (RFC 8259)
        content_type = response.headers.get("Content-Type", "").lower()
        return Answer(response.status_code, content_type, text)

    def close(self) -> None:
        self.session.close()


def _cause(exc: Exception) -> str:
    """The root reason (e.g. "ConnectionRefusedError: Connection refused"), found through
    urllib3's wrappers, not their long text with the URL in it."""
    found: BaseException = exc
    queue: list[BaseException] = [exc]
    seen: set[int] = set()
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return f"{type(current).__name__}: {current.strerror}"
        found = current
        reason = getattr(current, "reason", None)
        nested = [reason, current.__cause__, current.__context__, *current.args]
        queue += [e for e in nested if isinstance(e, BaseException)]
    return type(found).__name__
