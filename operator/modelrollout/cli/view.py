"""The terminal view of a ModelDeployment's status, rendered with rich."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from modelrollout.api.printable import escaped
from modelrollout.api.route_parts import HeaderMatch
from modelrollout.api.spec import CanaryStep, ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus, RevisionStatus
from modelrollout.engine.judge import describe_check

_PHASE_STYLE = {
    "Healthy": "bold green",
    "Progressing": "bold cyan",
    "Paused": "bold yellow",
    "RolledBack": "bold red",
    "Degraded": "bold red",
    "Pending": "dim",
}
_OUTCOME_STYLE = {
    "Successful": "green",
    "Failed": "red",
    "Inconclusive": "yellow",
    "Error": "magenta",
}


def shown(value: object) -> Text:
    """What the cluster holds, as plain text: never rich markup (`[link=...]` stays
    literal) and never a control character the terminal would act on (shown escaped).
    The CRD refuses such characters, but a status or an object from before may hold them."""
    return Text(escaped(str(value)))


def _step_text(step: CanaryStep) -> str:
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}%"
    if step.mirror is not None:
        return f"mirror {step.mirror.percent}%" if step.mirror.percent else "mirror off"
    if step.header_route is not None:
        return f"headerRoute {_headers(step.header_route.headers())}"
    duration = step.pause.duration if step.pause else None
    return f"pause {duration}" if duration else "pause (until promoted)"


def _headers(headers: Sequence[HeaderMatch]) -> str:
    if not headers:
        return "off"
    return " & ".join(h.describe() for h in headers)


def _traffic(rev: RevisionStatus) -> str:
    """Weight, and the copies and header-matched requests it gets besides."""
    parts = [f"{rev.weight}%"]
    if rev.mirror:
        parts.append(f"+ {rev.mirror}% mirrored")
    if rev.header_route:
        parts.append(f"+ {_headers(rev.header_route)}")
    return " ".join(parts)


def _route(name: str, spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> Text:
    """Which router carries the split, to which backends, and what it carries now:
    weights, a mirror and a header route (with replica ratio: the pods)."""
    if spec.traffic is None:
        return Text("route: none; the stable Service's selector switches")
    rev = status.canary
    canary = rev.weight if rev is not None else 0
    pools = spec.inference_pools()
    kind = "InferencePools" if pools is not None else "Services"
    line = f"route: {spec.traffic.describe(name)} -> "
    if spec.splits_by_pods():
        stable_pods = status.stable.ready_replicas if status.stable is not None else 0
        canary_pods = rev.ready_replicas if rev is not None else 0
        line += (
            f"ready pods: {stable_pods} stable ({100 - canary}%), {canary_pods} canary ({canary}%)"
        )
        return shown(line)
    line += f"{kind} {name}-stable ({100 - canary}%) and {name}-canary ({canary}%)"
    if rev is not None and rev.mirror:
        line += f"; {rev.mirror}% mirrored to {name}-canary"
    if rev is not None and rev.header_route:
        line += f"; {_headers(rev.header_route)} to {name}-canary"
    if pools is not None:
        pickers = pools.endpoint_pickers
        line += f"; pickers {pickers.stable.name} and {pickers.canary.name}"
    return shown(line)


def render(name: str, spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> Group:
    head = Text.assemble(
        (f"{name}  ", "bold"),
        (status.phase.value, _PHASE_STYLE.get(status.phase.value, "")),
        shown(f"  {status.message}" if status.message else ""),
    )
    revisions = Table("", "version", "revision", "traffic", "ready", box=None)
    live = (("stable", status.stable), ("canary", status.canary), ("returning", status.returning))
    for label, rev in live:
        if rev is not None:
            revisions.add_row(
                label,
                shown(rev.version),
                shown(rev.revision),
                shown(_traffic(rev)),
                f"{rev.ready_replicas}/{rev.replicas}",
            )
    steps = Table("", "step", box=None)
    canary = spec.strategy.canary
    for index, step in enumerate(canary.steps if canary else []):
        current = status.canary is not None and status.current_step == index
        done = status.canary is not None and (status.current_step or 0) > index
        marker = ">" if current else ("✓" if done else " ")
        steps.add_row(
            marker, shown(_step_text(step)), style="bold" if current else ("dim" if done else "")
        )
    measurements = Table("metric", "outcome", "value", "threshold", "message", box=None)
    for m in status.analysis.last[:6]:
        bounds = " ".join(
            part
            for part in (
                f"min {m.min:g}" if m.min is not None else "",
                f"max {m.max:g}" if m.max is not None else "",
            )
            if part
        )
        measurements.add_row(
            shown(m.metric),
            Text(m.outcome.value, _OUTCOME_STYLE.get(m.outcome.value, "")),
            "-" if m.value is None else f"{m.value:.4g}",
            bounds,
            shown(m.message),
        )
    conditions = Table("condition", "status", "reason", "message", box=None)
    for c in status.conditions:
        conditions.add_row(*(shown(part) for part in (c.type, c.status, c.reason, c.message)))
    a = status.analysis
    capacity = spec.strategy.capacity()
    budget = (
        [Text(f"budget: {spec.replicas} + {capacity.max_surge} pods, {status.replicas} asked")]
        if capacity is not None
        else []
    )
    counters = Text(
        f"analysis: {a.successful} successful, {a.failed} failed, "
        f"{a.inconclusive} inconclusive, {a.errors} errors"
    )
    return Group(
        head,
        revisions,
        _route(name, spec, status),
        *budget,
        steps,
        counters,
        *_judge(spec, status),
        measurements,
        conditions,
    )


def _judge(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> list[Text]:
    """The judge's running evidence, a line per check (or why there is none yet)."""
    judge, configured = status.analysis.judge, spec.analysis and spec.analysis.judge
    if judge is None or not configured:
        return []
    lines = [describe_check(configured, check) for check in judge.checks]
    lines = lines or [judge.message]
    return [shown(f"judge: {line}") for line in lines]


def history_table(status: ModelDeploymentStatus) -> Table:
    table = Table("finished", "version", "from", "outcome", "reason")
    for h in status.history:
        table.add_row(
            h.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
            shown(f"{h.version} ({h.revision})"),
            shown(h.from_version),
            Text(h.outcome, "green" if h.outcome == "Promoted" else "red"),
            shown(h.reason),
        )
    return table
