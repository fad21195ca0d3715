"""`make demo`: three real rollouts on the traffic lab, with live progress.

Starts a control plane and Prometheus, installs the CRDs, runs the operator (unchanged,
as a process), and the lab: Envoy, stand-in gateway and kubelet, model servers, load
(the model's own data set, 2% malformed rows). Every version is first judged on
mirrored copies of live requests, users still answered by stable:

1. 2.0.0, a good model that takes 5 s to load: promoted;
2. 3.0.0, failing half its requests: rolled back by the errors check on mirrored
   traffic, no user answered by it;
3. 4.0.0, answering 200 quickly but predicting garbage on 30% of requests (one class
   whatever the input): rolled back by the predictions check on mirrored traffic.

Prints a summary, writes a plot (each check's evidence over time next to the weights),
and stops everything it started.

    python -m lab.demo [--rps 40] [--plot docs/lab-demo.png]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from lab.lab import Lab, lab_model_deployment
from lab.load import LoadGenerator
from lab.plot import plot
from lab.record import RolloutRecord, old_pods_gone, play
from testenv import settings
from testenv.namespaces import temporary_namespace
from testenv.prometheus import SCRAPE_INTERVAL
from testenv.stack import running_stack

NAME = "iris"
SLOW_LOAD = {"MODEL_FAULT_SLOW_START_SECONDS": "5"}
FAILING = {"MODEL_FAULT_ERROR_RATE": "0.5"}
GARBAGE = {"MODEL_FAULT_DRIFT_SHARE": "0.3"}
MALFORMED = 0.02
STRATEGY = {
    "canary": {
        "steps": [
            {"mirror": {"percent": 100}},
            {"pause": {"duration": "30s"}},
            {"setWeight": 20},
            {"pause": {"duration": "10s"}},
            {"setWeight": 50},
            {"pause": {"duration": "10s"}},
        ],
        "scaleDownDelay": "5s",
        "abortScaleDownDelay": "5s",
    }
}
FALSE_ROLLBACK_RATE = 0.01
CHECKS = [
    {"kind": "errors"},
    # The lab's processes share two busy cores: a fresh one answers its first requests
    # a little slower whatever its model, so 20 points rather than the default 5.
    {"kind": "latency", "tolerance": 0.2},
    {"kind": "predictions"},
    {"kind": "ratio"},
]
LIVE_WINDOW_SECONDS = 5.0


def analysis(prometheus_url: str) -> dict[str, Any]:
    return {
        "prometheus": {"url": prometheus_url, "timeout": "2s", "scrapeInterval": SCRAPE_INTERVAL},
        "minSampleSize": 20,
        "judge": {"falseRollbackRate": FALSE_ROLLBACK_RATE, "checks": CHECKS},
    }


class LiveView:
    """What the terminal shows while a rollout runs."""

    def __init__(self, console: Console, load: LoadGenerator, title: str) -> None:
        self.console, self.load, self.title = console, load, title
        self.live = Live(console=console, refresh_per_second=4, transient=True)
        self._logged: set[tuple[int | None, int]] = set()

    def __call__(self, record: RolloutRecord, status: dict[str, Any]) -> None:
        for at, step, weight in record.steps:
            if (step, weight) not in self._logged:
                self._logged.add((step, weight))
                self.console.log(
                    f"[bold]{record.version}[/] +{at - record.started:5.1f}s "
                    f"step {step}: canary weight {weight}%"
                )
        self.live.update(self._render(record, status))

    def _render(self, record: RolloutRecord, status: dict[str, Any]) -> Panel:
        canary = status.get("canary") or {}
        stable = status.get("stable") or {}
        head = (
            f"phase [bold]{status.get('phase', '?')}[/]   stable {stable.get('version', '-')}   "
            f"canary {canary.get('version', '-')} at {canary.get('weight', 0)}%   "
            f"+{time.time() - record.started:.0f}s"
        )
        traffic = Table("version", "requests (5 s)", "failed", "p99 latency (ms)", box=None)
        recent = self.load.between(time.time() - LIVE_WINDOW_SECONDS - 0.5, time.time() - 0.5)
        for version in sorted({o.version or "(none)" for o in recent}):
            mine = [o for o in recent if (o.version or "(none)") == version]
            latencies = sorted(o.latency for o in mine)
            p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
            failed = sum(not o.ok for o in mine)
            traffic.add_row(
                version, str(len(mine)), f"[red]{failed}[/]" if failed else "0", f"{p99:.1f}"
            )
        checks = Table("check", "evidence the canary is worse", box=None)
        judge = (status.get("analysis") or {}).get("judge") or {}
        boundary = len(CHECKS) / FALSE_ROLLBACK_RATE
        for c in judge.get("checks") or []:
            colour = "red" if c["evidence"] >= boundary else "green"
            checks.add_row(
                c["name"], f"[{colour}]{c['evidence']:.3g}x[/] (rollback at {boundary:g}x)"
            )
        message = status.get("message", "")
        return Panel(Group(head, "", traffic, "", checks, "", message), title=self.title)


def summary(records: list[RolloutRecord], envoy_counts: dict[str, dict[str, int]]) -> Table:
    table = Table(title="Rollouts", show_lines=True)
    for column in ("version", "decision"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", min_width=20)
    table.add_column("weights over time", min_width=16)
    for column in ("requests", "failed", "time to decision"):
        table.add_column(column)
    for r in records:
        weights = " → ".join(f"{w}% @{at:.0f}s" for at, w in r.weight_changes())
        served = len(r.outcomes)
        colour = "green" if r.outcome == "Promoted" else "red"
        table.add_row(
            r.version,
            f"[{colour}]{r.outcome}[/]",
            r.reason,
            weights,
            str(served),
            f"{r.failed} ({100 * r.failed / max(served, 1):.2f}%)",
            f"{r.seconds_to_decision:.1f} s",
        )
    envoy = Table(title="What Envoy served, per revision (its own counters)")
    for column in ("revision cluster", "requests", "2xx", "5xx"):
        envoy.add_column(column)
    for cluster, counts in sorted(envoy_counts.items()):
        envoy.add_row(cluster, str(counts["total"]), str(counts["2xx"]), str(counts["5xx"]))
    outer = Table.grid()
    outer.add_row(table)
    outer.add_row(envoy)
    return outer


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rps", type=float, default=40.0, help="requests per second of load")
    parser.add_argument("--plot", type=Path, default=settings.REPO_ROOT / "docs" / "lab-demo.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    with contextlib.ExitStack() as stack:
        try:
            return demo(console, stack, args.rps, args.plot)
        finally:
            console.log("cleaning up")  # the stack stops everything, newest first


def demo(console: Console, stack: contextlib.ExitStack, rps: float, plot_path: Path) -> int:
    workdir = settings.CACHE_DIR / "demo"
    with console.status("starting the control plane, Prometheus and the operator"):
        parts = stack.enter_context(running_stack(workdir))
    prometheus = parts.prometheus.url
    console.log(f"control plane {parts.endpoints.server} and Prometheus {prometheus} up")
    namespace = stack.enter_context(temporary_namespace(parts.api, "demo"))
    lab = Lab(parts.api, namespace, parts.prometheus, workdir / "lab")
    with console.status("starting Envoy and the lab's gateway and kubelet"):
        stack.enter_context(lab)
    console.log(f"Envoy listening on {lab.envoy.url} (admin {lab.envoy.admin})")
    body = lab_model_deployment(
        NAME, "1.0.0", prometheus, strategy=STRATEGY, analysis=analysis(prometheus)
    )
    with console.status("version 1.0.0 starting (two model-server processes)"):
        lab.deploy(body)
    load = lab.load(rps, malformed=MALFORMED)
    console.log(
        f"1.0.0 serving; sending {rps:.0f} requests/s through Envoy "
        f"({100 * MALFORMED:.0f}% malformed)"
    )
    records = []
    for version, faults, title in (
        ("2.0.0", SLOW_LOAD, "rollout 2.0.0 (a good model that takes 5 s to load)"),
        ("3.0.0", FAILING, "rollout 3.0.0 (fails half its requests)"),
        ("4.0.0", GARBAGE, "rollout 4.0.0 (200 in milliseconds, garbage on 30%)"),
    ):
        view = LiveView(console, load, title)
        settle = old_pods_gone(lab, "2.0.0")
        with view.live:
            r = play(lab, NAME, version, load, faults, settle=settle, on_poll=view)
        records.append(r)
        console.log(
            f"[bold]{version}[/]: {r.outcome} after {r.seconds_to_decision:.1f}s: {r.reason}"
        )
    load.stop()
    console.print(summary(records, lab.gateway.revision_counts()))
    served = dict(sorted(Counter(o.version for o in load.outcomes).items()))
    console.print(f"load generator: {len(load.outcomes)} requests, by version {served}")
    rolled_back = {r.version for r in records if r.outcome == "RolledBack"}
    affected = [o for o in load.outcomes if o.version in rolled_back or not o.ok]
    console.print(
        f"users answered by a version rolled back, or failed: {len(affected)} "
        f"(malformed rows refused with 400: {sum(o.malformed for o in load.outcomes)})"
    )
    boundary = len(CHECKS) / FALSE_ROLLBACK_RATE
    console.print(f"plot: {plot(records, plot_path, boundary)}")
    return 0 if [r.outcome for r in records] == ["Promoted", "RolledBack", "RolledBack"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
