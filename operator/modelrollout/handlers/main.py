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
from modelrollout.api.vocabulary import FIELD_MANAGER, Reason
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
    memo.api = api
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


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, sharp=True, backoff=TICK_SECONDS)
def tick(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    adapters: Adapters = memo.adapters
    started = time.monotonic()
    try:
        result = reconcile(adapters, body, datetime.now(UTC))
    except Exception:
        telemetry.RECONCILE_ERRORS.inc()
        raise
    finally:
        telemetry.RECONCILE_SECONDS.observe(time.monotonic() - started)
    if result.failed:
        telemetry.RECONCILE_ERRORS.inc()
    if not write_status(memo.api, body, result.status.wire()):
        return  # decided on a status that did not stick: the next tick decides again
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    telemetry.record(namespace, name, result.previous, result.status, result.measurements)
    for event in result.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        log = logger.warning if event.type == "Warning" else logger.info
        log("%s/%s %s: %s", namespace, name, event.reason, event.message)


# A watch-event handler, not on.delete: change handlers would make kopf write its
# last-handled-configuration annotation (drift for GitOps, and `patch` on the resource).
@kopf.on.event(GROUP, VERSION, PLURAL)
def deleted(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    if event["type"] == "DELETED":
        telemetry.forget(body.metadata.namespace or "", body.metadata.name or "")


def write_status(api: client.ApiClient, body: kopf.Body, new: dict[str, Any]) -> bool:
    """Write the fields that changed, only if the object is still the one decided on.

    The merge patch carries the resourceVersion read: if anything changed the object
    since (a spec edit, or this decision was made on a stale copy), the API server
    refuses it with 409 and the decision's events are not posted, so no step,
    promotion or history entry is ever recorded twice. Any other failure is logged
    and evented; the next tick tries again.
    """
    old = dict(body.get("status") or {})
    changed: dict[str, Any] = {key: None for key in old.keys() - new.keys()}  # null removes
    changed |= {key: value for key, value in new.items() if old.get(key) != value}
    if not changed:
        return True
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    version = body.metadata.get("resourceVersion")
    patch = {"metadata": {"resourceVersion": version}, "status": changed}
    try:
        client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, patch, field_manager=FIELD_MANAGER
        )
    except client.ApiException as exc:
        if exc.status == 409:
            logger.debug("%s/%s changed since it was read; deciding again", namespace, name)
            return False
        message = f"status not written ({exc.status} {exc.reason}): {str(exc.body)[:300]}"
        logger.error("%s/%s %s", namespace, name, message)
        kopf.event(body, type="Warning", reason=Reason.STATUS_WRITE_FAILED, message=message)
        return False
    return True


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
