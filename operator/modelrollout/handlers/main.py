"""Process entry point: kopf's operator loop with the reconciler on a timer per object.

One timer per ModelDeployment: kopf serialises it per object, and a level-triggered
tick (observe, decide, act, record) needs no change handlers, so kopf writes no
annotations of its own that GitOps tools would see as drift.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client, config

from modelrollout import __version__
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.handlers import telemetry
from modelrollout.reconcile import Adapters, cluster_adapters, reconcile

logger = logging.getLogger("modelrollout")
TICK_SECONDS = float(os.environ.get("MODELROLLOUT_TICK_SECONDS", "2"))


def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own events carry the decisions. Below WARNING, kopf would post "Timer succeeded"
    # as an Event every tick, for every ModelDeployment; handler errors still become Events.
    settings.posting.level = logging.WARNING
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.watching.server_timeout = 300
    # No watches on CustomResourceDefinitions or Namespaces: least privilege (RBAC needs
    # nothing cluster-wide in namespaced mode). So the CRD must be served at startup.
    settings.scanning.disabled = True
    # kopf puts a finalizer on objects with timers, to stop the timer before the object goes.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    api = api_client()  # one client per process, shared by every handler through memo
    require_crd(api)
    memo.adapters = cluster_adapters(api)
    logger.info("modelrollout %s starting (tick %.1fs)", __version__, TICK_SECONDS)


def require_crd(api: client.ApiClient) -> None:
    """Stop at startup with a clear message when our CRD is not installed (discovery only)."""
    try:
        served = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION).resources
    except client.ApiException as exc:
        if exc.status != 404:  # 404: the group/version is not served at all
            raise
        served = []
    if not any(r.name == PLURAL for r in served):
        raise kopf.PermanentError(
            f"{PLURAL}.{GROUP}/{VERSION} is not served: install the CRD "
            "(crds/modelrollout.io_modeldeployments.yaml, or the Helm chart) and restart"
        )


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, sharp=True)
def tick(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    adapters: Adapters = memo.adapters
    started = time.monotonic()
    try:
        result = reconcile(adapters, body, datetime.now(UTC))
    except Exception:
        telemetry.RECONCILE_ERRORS.inc()
        raise
    finally:
        telemetry.RECONCILE_SECONDS.observe(time.monotonic() - started)
    telemetry.record(
        body.metadata.namespace or "",
        body.metadata.name or "",
        result.previous,
        result.status,
        result.measurements,
    )
    old, new = dict(body.get("status") or {}), result.status.wire()
    for key in old.keys() - new.keys():
        patch.status[key] = None  # a merge patch removes a field by setting it to null
    for key, value in new.items():
        if old.get(key) != value:
            patch.status[key] = value
    for event in result.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        log = logger.warning if event.type == "Warning" else logger.info
        log(
            "%s/%s %s: %s", body.metadata.namespace, body.metadata.name, event.reason, event.message
        )


# A watch-event handler, not on.delete: change handlers would make kopf write its
# last-handled-configuration annotation (drift for GitOps, and `patch` on the resource).
@kopf.on.event(GROUP, VERSION, PLURAL)
def deleted(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    if event["type"] == "DELETED":
        telemetry.forget(body.metadata.namespace or "", body.metadata.name or "")


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
        help="serve kopf's liveness probe here, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve the operator's Prometheus metrics on this port (default: off)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.metrics_port is not None:
        telemetry.serve(args.metrics_port)
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            standalone=True,
            liveness_endpoint=args.liveness,
        )
    )
    return 0
