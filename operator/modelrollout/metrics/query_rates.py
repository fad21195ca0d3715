"""A rate limit toward each Prometheus (modelrollout.rate_limits): one bucket per
endpoint (scheme, host and port), shared by every ModelDeployment that queries it, so
a fleet-wide rollout cannot swamp a Prometheus however many analyses are due at once.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from modelrollout.rate_limits import PriorityBucket


class QueryRates:
    def __init__(self, rate: float, burst: int) -> None:
        PriorityBucket(rate, burst)  # refuses a bad pair here, at startup
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, PriorityBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, url: str) -> PriorityBucket:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None  # refused elsewhere (metrics.registry.endpoint_refusal)
        endpoint = f"{parts.scheme}://{(parts.hostname or '').lower()}:{port or ''}"
        with self._lock:
            found = self._buckets.get(endpoint)
            if found is None:
                found = self._buckets[endpoint] = PriorityBucket(self.rate, self.burst)
            return found


UNLIMITED = QueryRates(0, 0)
