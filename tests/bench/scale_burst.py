"""Scale, the burst: every ModelDeployment changes version at once (a base-image bump),
and meanwhile a person aborts one rollout that was already under way.

Measured: from the first patch, the time until each ModelDeployment took its first
step (its canary Deployment seen through a watch); and the abort -> the route's canary
weight back to 0 (polled every 20 ms).
"""

from __future__ import annotations

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.api.vocabulary import REQUEST_ANNOTATION
from modelrollout.engine.request_token import mint
from testenv.procs import wait_until
from testenv.rollouts import GW, HELD_CANARY, canary_weight


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (scale.py's first-action figures use it too)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def route_weight(custom: client.CustomObjectsApi, namespace: str, name: str) -> int | None:
    """The canary's weight on the ModelDeployment's HTTPRoute (named like it)."""
    route: Any = custom.get_namespaced_custom_object(*GW, namespace, "httproutes", name)
    return canary_weight(route["spec"]["rules"], f"{name}-canary", istio=False)


def patch(custom: client.CustomObjectsApi, namespace: str, name: str, body: Any) -> None:
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body)


def hold_at_20(custom: client.CustomObjectsApi, namespace: str, name: str, version: str) -> None:
    """`name` mid-rollout: its canary of `version` held at 20%."""
    patch(
        custom, namespace, name, {"spec": {"model": {"version": version}, "strategy": HELD_CANARY}}
    )
    wait_until(
        lambda: route_weight(custom, namespace, name) == 20,
        timeout=300,
        what=f"{name} at 20%",
        interval=0.2,
    )


def abort(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    """A person's abort, as the kubectl plugin asks it; returns once the route sends the
    canary nothing (polled every 20 ms)."""
    token = mint("abort", datetime.now(UTC))
    patch(custom, namespace, name, {"metadata": {"annotations": {REQUEST_ANNOTATION: token}}})
    wait_until(
        lambda: route_weight(custom, namespace, name) == 0,
        timeout=300,
        what=f"{name}'s abort",
        interval=0.02,
    )


def burst_with_an_abort(
    api: client.ApiClient, namespace: str, names: list[str], seen: Any, version: str
) -> dict[str, Any]:
    """`names[0]` is put mid-rollout first (held at 20%), then every other one changes
    to `version` at once, and `names[0]` is aborted once the first of them started.
    `seen` is a DeploymentsSeen on the namespace."""
    custom = client.CustomObjectsApi(api)
    held, rest = names[0], names[1:]
    hold_at_20(custom, namespace, held, version)

    before = set(seen.now())
    started = time.monotonic()
    changed = {"spec": {"model": {"version": version}}}
    with ThreadPoolExecutor(16) as pool:
        changes = [pool.submit(patch, custom, namespace, n, changed) for n in rest]

        def some_started() -> bool:
            return any(d not in before for d in seen.now())

        wait_until(some_started, timeout=300, what="the burst's first step", interval=0.01)
        asked = time.monotonic()
        abort(custom, namespace, held)
        abort_s = time.monotonic() - asked
        waiting_then = len(rest) - sum(d not in before for d in seen.now())
        for change in changes:
            change.result()
    patched = time.monotonic() - started

    def first_step(name: str) -> float | None:
        new = [t for d, t in seen.now().items() if d.startswith(f"{name}-") and d not in before]
        return min(new) - started if new else None

    wait_until(
        lambda: all(first_step(n) is not None for n in rest),
        timeout=3 * 3600,
        what="every rollout's first step",
        interval=2,
    )
    steps = [first_step(n) or 0.0 for n in rest]
    return {
        "rollouts": len(rest),
        "all_patched_s": patched,
        "first_step_p50_s": statistics.median(steps),
        "first_step_p99_s": percentile(steps, 0.99),
        "all_first_steps_s": max(steps),
        "abort_acted_s": abort_s,
        "rollouts_yet_to_start_when_the_abort_acted": waiting_then,
    }
