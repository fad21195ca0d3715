"""The knobs of the client-side rate limits (modelrollout.rate_limits): toward the API
server, one bucket for the whole operator; toward each Prometheus, one per endpoint.

Both hand their tokens out by urgency: a person's request, then a rollback, then a
promotion's traffic move, a rollout's next step, measuring, and last a version not
yet rolled out. The Lease's requests are not limited (they are what the fence is
made of), nor are kopf's watches.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from modelrollout.metrics.query_rates import QueryRates
from modelrollout.rate_limits import PriorityBucket

KUBE_API_QPS, KUBE_API_BURST = 50.0, 100
PROMETHEUS_QPS, PROMETHEUS_BURST = 20.0, 40


@dataclass(frozen=True)
class RequestLimits:
    kube_api: PriorityBucket
    prometheus: QueryRates


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kube-api-qps",
        type=float,
        default=KUBE_API_QPS,
        metavar="N",
        help=f"requests a second to the API server, on average (default {KUBE_API_QPS:g}; "
        "0: no limit); the most urgent work's requests go first",
    )
    parser.add_argument(
        "--kube-api-burst",
        type=int,
        default=KUBE_API_BURST,
        metavar="N",
        help=f"requests to the API server at once after a quiet time (default {KUBE_API_BURST})",
    )
    parser.add_argument(
        "--prometheus-qps",
        type=float,
        default=PROMETHEUS_QPS,
        metavar="N",
        help=f"queries a second to each Prometheus endpoint (default {PROMETHEUS_QPS:g}; "
        "0: no limit)",
    )
    parser.add_argument(
        "--prometheus-burst",
        type=int,
        default=PROMETHEUS_BURST,
        metavar="N",
        help=f"queries to one Prometheus at once after a quiet time (default {PROMETHEUS_BURST})",
    )


def from_args(args: argparse.Namespace) -> RequestLimits:
    """ValueError names a rate or burst that cannot be."""
    return RequestLimits(
        PriorityBucket(args.kube_api_qps, args.kube_api_burst),
        QueryRates(args.prometheus_qps, args.prometheus_burst),
    )
