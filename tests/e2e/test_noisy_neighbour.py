"""One tenant's hostile analysis endpoints do not slow another tenant's rollback or a
person's abort, crash the operator, or leak what they answered.

In one namespace, 40 ModelDeployments point their analysis at a hostile endpoint: 32
at one that answers one byte a second for the longest timeout allowed (as many as the
operator has threads), two each at a gzip bomb, a 50 MB body, a redirect to a
"metadata" server, and that server itself. Meanwhile, in the
test's namespace, a failing canary is rolled back by its analysis and a held canary is
aborted by a person; both timed against the same round without the hostile namespace.
The figures go to .cache/e2e/noisy-neighbour.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from modelrollout.engine.request_token import mint
from testenv import settings
from testenv.exporter import Traffic
from testenv.hostile import KINDS, SECRET, HostileEndpoint
from testenv.namespaces import temporary_namespace
from testenv.operator import OperatorProcess
from testenv.procs import wait_until
from testenv.rollouts import (
    GROUP,
    GW,
    HELD_CANARY,
    PLURAL,
    VERSION,
    Scenario,
    http_route,
    model_deployment,
)

GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)
RESULTS = settings.CACHE_DIR / "e2e" / "noisy-neighbour.json"
MEMORY_LIMIT = 256 * 1024 * 1024  # the chart's limit
# More drips than the operator has threads: without a bulkhead they would hold them all.
HOSTILE = [kind for kind in KINDS if kind != "drip" for _ in range(2)] + ["drip"] * 32


@dataclass(frozen=True)
class Round:
    rollback_seconds: float  # from the bad version's spec to RolledBack
    abort_seconds: float  # from a person's abort to RolledBack


def victim_round(make_scenario: Callable[..., Scenario], tag: str) -> Round:
    judged = make_scenario(f"{tag}-judged")
    held = make_scenario(f"{tag}-held")
    for s in (judged, held):
        s.traffic("1.0.0", GOOD)
    judged.traffic("2.0.0", BAD)
    held.traffic("2.0.0", GOOD)
    judged.create("1.0.0")
    held.create("1.0.0", strategy=HELD_CANARY)
    judged.wait_healthy("1.0.0")
    held.wait_healthy("1.0.0")
    held.set_version("2.0.0")
    held.wait_status(lambda st: st.get("pauseReason") == "PauseStep", "held at the pause step")

    started = time.monotonic()
    judged.set_version("2.0.0")
    judged.wait_status(lambda st: st.get("phase") == "RolledBack", "rolled back", timeout=180)
    rollback = time.monotonic() - started

    started = time.monotonic()
    abort = {
        "metadata": {"annotations": {"modelrollout.io/request": mint("abort", datetime.now(UTC))}}
    }
    held.custom.patch_namespaced_custom_object(
        GROUP, VERSION, held.namespace, PLURAL, held.name, abort
    )
    held.wait_status(lambda st: st.get("phase") == "RolledBack", "aborted", timeout=180)
    return Round(rollback, time.monotonic() - started)


def start_hostile(api: client.ApiClient, namespace: str, url: str) -> list[str]:
    custom = client.CustomObjectsApi(api)
    names = []
    for i, kind in enumerate(HOSTILE):
        name = f"noisy-{kind}-{i}"
        names.append(name)
        custom.create_namespaced_custom_object(
            *GW, namespace, "httproutes", http_route(name, f"{name}-stable", f"{name}-canary")
        )
        body = model_deployment(name, "1.0.0", f"{url}/{kind}", replicas=1)
        body["spec"]["analysis"].update(
            interval="1s", consecutiveErrorLimit=100, minSampleSize=0, window="2s"
        )
        body["spec"]["analysis"]["prometheus"].update(timeout="30s", scrapeInterval="1s")
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    for name in names:
        wait_until(
            lambda name=name: _phase(custom, namespace, name) == "Healthy",
            timeout=180,
            what=f"{name} Healthy",
        )
        patch = {"spec": {"model": {"version": "2.0.0"}}}
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)
    return names


def _phase(custom: client.CustomObjectsApi, namespace: str, name: str) -> str:
    found: Any = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return str((found.get("status") or {}).get("phase"))


def peak_memory(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc: cannot read the operator's peak memory")


def test_a_hostile_namespace_slows_no_rollback_or_abort_and_leaks_nothing(
    make_scenario: Callable[..., Scenario],
    api: client.ApiClient,
    operator: OperatorProcess,
) -> None:
    assert operator.process is not None
    starts, pid = operator.starts, operator.process.pid
    baseline = victim_round(make_scenario, "quiet")
    with HostileEndpoint().running() as hostile, temporary_namespace(api, "hostile") as evil:
        start_hostile(api, evil, hostile.url)
        # Each kind queried, and the drips holding all the threads their namespace may.
        share = 8  # handlers.workers: a quarter of the session operator's 32
        wait_until(
            lambda: hostile.requests["drip"] >= share and all(hostile.requests[k] for k in KINDS),
            timeout=240,
            what="every hostile endpoint queried",
        )
        noisy = victim_round(make_scenario, "noisy")
        core = client.CoreV1Api(api)
        said = [e.message or "" for e in core.list_namespaced_event(evil).items]
        statuses = client.CustomObjectsApi(api).list_namespaced_custom_object(
            GROUP, VERSION, evil, PLURAL
        )["items"]
        queried = dict(hostile.requests)
    peak = peak_memory(pid)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "quiet": asdict(baseline),
                "noisy": asdict(noisy),
                "hostile_requests": queried,
                "operator_peak_rss_bytes": peak,
            },
            indent=1,
        )
    )
    # Within 1.5x of the quiet round (and a scrape, 1 s, for the judge's granularity).
    assert noisy.rollback_seconds <= 1.5 * baseline.rollback_seconds + 1.0, (baseline, noisy)
    assert noisy.abort_seconds <= 1.5 * baseline.abort_seconds + 1.0, (baseline, noisy)
    assert operator.starts == starts
    assert operator.process.pid == pid
    operator.process.check_alive()
    assert peak < MEMORY_LIMIT, f"peak RSS {peak} bytes"
    assert SECRET not in json.dumps(statuses)
    assert not [m for m in said if "wJalr" in m]
    assert "wJalr" not in operator.logs()
    messages = json.dumps([(s.get("status") or {}).get("analysis") for s in statuses])
    assert "not JSON" in messages, "the metadata answers were named, not shown"
