"""Process entry point: leader election beside kopf's operator, one loop per object.

Each ModelDeployment has a kopf daemon (handlers.loop) that reconciles it when it or
anything it depends on changes, or when the engine says something is due; watch-fed
caches (handlers.caches) answer every read. Only watch-event, index and daemon handlers
are used: change handlers would make kopf write its own annotations, which GitOps
tools would see as drift.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import uuid
from typing import Any

import kopf
from kubernetes import client

from modelrollout import __version__
from modelrollout.api import inference_pool
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.handlers import (
    caches,
    client_parts,
    election_ties,  # noqa: F401 (its kopf handlers register on import)
    kopf_at_scale,
    kopf_writes,
    leadership,
    log_format,
    loop,
    notifier,
    request_limits,
    rollout_slots,
    telemetry,
)
from modelrollout.handlers.fencing import Fence, FencedApiClient, Standalone
from modelrollout.handlers.leadership import Leadership
from modelrollout.handlers.workers import Workers
from modelrollout.metrics import endpoints
from modelrollout.routing import registry
from modelrollout.workloads.render import LABEL_NAME

logger = logging.getLogger("modelrollout")
# Blocking work (writes, Prometheus queries) per reconcile takes milliseconds and runs
# on this many threads; everything else is on the event loop. See docs/architecture.md.
DEFAULT_WORKERS = 32


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own Events carry the decisions, fenced like every write (handlers.events);
    # kopf's would repeat them, unfenced.
    settings.posting.enabled = False
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.server_timeout = 300
    # No watches on CustomResourceDefinitions or Namespaces: least privilege (RBAC needs
    # nothing cluster-wide in namespaced mode). So the CRD must be served at startup.
    settings.scanning.disabled = True
    # kopf puts a finalizer on objects with daemons, to stop the daemon before the object goes.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.diffbase_storage = kopf_at_scale.NoDiffBase()
    # The API server selects what is ours (kopf's own label filters run on the client,
    # after every object of every application was sent): memory, CPU and a new
    # leader's listing then grow with ModelDeployments, not with the cluster.
    for group, version, plural in caches.OWNED_KINDS:
        settings.watching.label_selectors[group, version, plural] = LABEL_NAME
    runtime: loop.Runtime = memo.runtime
    # Routes are the users' objects: only those they label, if they say which.
    if runtime.route_selector:
        for kind in registry.route_kinds():
            settings.watching.label_selectors[kind] = runtime.route_selector
    require_crd(runtime.api)
    runtime.routes_served = frozenset(
        kind.plural for kind in registry.route_kinds() if served(runtime.api, *kind)
    )
    runtime.pools_watched = served(
        runtime.api, inference_pool.GROUP, inference_pool.VERSION, inference_pool.PLURAL
    )
    logger.info(
        "modelrollout %s starting (%d workers, resync %.0fs, routes watched: %s, "
        "InferencePools %s)",
        __version__,
        runtime.workers.size,
        runtime.resync_seconds,
        ", ".join(sorted(runtime.routes_served)) or "none served (read when needed)",
        "watched" if runtime.pools_watched else "not served",
    )


@kopf.on.probe(id="workers")
def workers_progress(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Liveness: red once a reconcile has waited longer than --stall-seconds for a thread
    (analysis cannot cause it: handlers.workers keeps threads from it)."""
    runtime: loop.Runtime = memo.runtime
    waited = runtime.workers.oldest_wait()
    if waited > runtime.stall_seconds:
        raise kopf.PermanentError(
            f"a reconcile has waited {waited:.0f}s for a worker thread: no progress"
        )
    return {"oldest_wait_seconds": round(waited, 1)}


def served(api: client.ApiClient, group: str, version: str, plural: str) -> bool:
    try:
        found = client.CustomObjectsApi(api).get_api_resources(group, version).resources
    except client.ApiException as exc:
        if exc.status != 404:  # 404: the group/version is not served at all
            raise
        return False
    return any(r.name == plural for r in found)


def require_crd(api: client.ApiClient) -> None:
    """Stop at startup with a clear message when our CRD is not installed (discovery only)."""
    if not served(api, GROUP, VERSION, PLURAL):
        raise kopf.PermanentError(
            f"{PLURAL}.{GROUP}/{VERSION} is not served: install the CRD "
            "(crds/modelrollout.io_modeldeployments.yaml, or the Helm chart) and restart"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="modelrollout", description=__doc__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    scope.add_argument("--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument(
        "--liveness",
        metavar="URL",
        default=None,
        help="serve the liveness probe here, e.g. http://0.0.0.0:8080/healthz",
    )
    leadership.add_arguments(parser)
    parser.add_argument(
        "--route-label-selector",
        metavar="SELECTOR",
        default=None,
        help="watch only the routes (HTTPRoute, GRPCRoute, VirtualService) this label "
        "selector selects, e.g. modelrollout.io/routed; a route a ModelDeployment names "
        "without it is read at each reconcile instead (default: every route in scope)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"threads for reconciles' blocking work (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--resync-seconds",
        type=float,
        default=300.0,
        help="reconcile each ModelDeployment at least this often even if nothing changed "
        "(default 300)",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=60.0,
        help="the liveness probe fails once a reconcile has waited this long for a "
        "worker thread (default 60)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve the operator's Prometheus metrics on this port (default: off)",
    )
    parser.add_argument(
        endpoints.FLAG,
        action="append",
        default=[],
        metavar="HOST_OR_CIDR",
        help="a Prometheus endpoint ModelDeployments may query: a host name or a CIDR "
        "(repeatable, or comma-separated). Default: any address but loopback, "
        "link-local (cloud metadata) and unspecified; listed: only these",
    )
    rollout_slots.add_arguments(parser)
    request_limits.add_arguments(parser)
    notifier.add_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    try:
        args.limits = rollout_slots.parse_limits(
            args.max_rollouts, args.max_rollouts_per_namespace, args.max_rollouts_per_label
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        args.endpoints = endpoints.EndpointPolicy.parse(args.prometheus_allow)
        args.request_limits = request_limits.from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        args.timing = leadership.timing(args)
    except ValueError as exc:
        parser.error(str(exc))
    selector = args.route_label_selector
    if selector is not None and (not selector.isprintable() or not 0 < len(selector) <= 256):
        parser.error("--route-label-selector: printable text of at most 256 characters")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_format.configure(logging.DEBUG if args.verbose else logging.INFO)
    if args.metrics_port is not None:
        telemetry.serve(args.metrics_port)
    client_parts.import_now()  # before the Lease can be taken: a takeover starts warm
    configuration = client_parts.api_configuration(connections=args.workers + 1)  # + startup
    fence: Fence = Standalone()
    # The pod's name, and the pid and a nonce: a restarted container is a new candidate.
    # Given to kopf too, which would otherwise ask the passwd database for the user's
    # name: the image's uid 10001 has no entry there.
    identity = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    if args.leader_election_namespace:
        # The Lease's own writes are not fenced: they are what the fence is made of.
        fence = Leadership(args.leader_election_namespace, args.lease_name, identity, args.timing)
        fence.start()
    api = FencedApiClient(configuration, fence, args.request_limits.kube_api)
    kopf_at_scale.install()
    kopf_writes.install(fence)
    runtime = loop.Runtime(
        api=api,
        workers=Workers.sized(args.workers),
        fence=fence,
        stall_seconds=args.stall_seconds,
        wakes=caches.Wakes(),
        resync_seconds=args.resync_seconds,
        endpoints=args.endpoints,
        query_rates=args.request_limits.prometheus,
        slots=rollout_slots.RolloutSlots(args.limits),
        route_selector=args.route_label_selector,
    )
    if args.notifications_secret:
        receivers = notifier.SecretReceivers(
            api, args.notifications_secret, args.notifications_namespace
        )
        runtime.notifier = notifier.Notifier(receivers, args.endpoints)
    try:
        asyncio.run(
            kopf.operator(
                clusterwide=not args.namespace,
                namespaces=args.namespace,
                standalone=True,
                identity=identity,  # type: ignore[arg-type]  # a NewType of str kopf does not export
                liveness_endpoint=args.liveness,
                memo=kopf.Memo(runtime=runtime),
            )
        )
    finally:
        runtime.workers.shutdown()
        if runtime.notifier is not None:
            runtime.notifier.stop()
        if isinstance(fence, Leadership):
            fence.release()
        api.close()  # type: ignore[no-untyped-call]
    logger.info("modelrollout stopped")
    return 0
