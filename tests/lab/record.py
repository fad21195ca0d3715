"""LAB-ONLY: play one rollout and record what happened, from every side.

The ModelDeployment's status (polled), the weights Envoy actually applied (from the
gateway), and every request's outcome (from the load generator) end up in one
`RolloutRecord`, which the demo prints and plots and the benchmarks measure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.lab import Lab, version_patch
from lab.load import LoadGenerator, Outcome
from modelrollout.api.crd import GROUP, PLURAL, VERSION
from testenv.procs import wait_until


@dataclass
class RolloutRecord:
    version: str
    started: float  # time.time() of the spec change
    decided: float = 0.0
    outcome: str = ""  # Promoted | RolledBack (from the status history)
    reason: str = ""
    revision: str = ""
    cluster: str = ""  # the Envoy cluster of the new revision
    steps: list[tuple[float, int | None, int]] = field(default_factory=list)  # (t, step, weight)
    shares: list[tuple[float, float]] = field(default_factory=list)  # (t, share Envoy applied)
    mirrors: list[tuple[float, float]] = field(default_factory=list)  # (t, share copied to it)
    # (t, check, evidence) at every poll while the new version was the canary
    evidence: list[tuple[float, str, float]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def seconds_to_decision(self) -> float:
        return self.decided - self.started

    def weight_changes(self) -> list[tuple[float, int]]:
        """(seconds since the start, canary weight), each time the weight changed."""
        changes: list[tuple[float, int]] = []
        for at, _, weight in self.steps:
            if not changes or changes[-1][1] != weight:
                changes.append((at - self.started, weight))
        return changes

    @property
    def failed(self) -> int:
        return sum(not o.ok for o in self.outcomes)


def decided(status: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The status history entry of `version` once its rollout ended, else None."""
    for entry in status.get("history") or []:
        if entry.get("version") == version and entry.get("outcome") in ("Promoted", "RolledBack"):
            return dict(entry)
    return None


def play(
    lab: Lab,
    name: str,
    version: str,
    load: LoadGenerator | None,
    faults: dict[str, str] | None = None,
    *,
    patch: dict[str, Any] | None = None,
    timeout: float = 600,
    settle: Callable[[RolloutRecord], bool] = lambda _: True,
    on_poll: Callable[[RolloutRecord, dict[str, Any]], None] = lambda *_: None,
) -> RolloutRecord:
    """Start a rollout of `version` (the model server's, or `patch`), wait for its
    decision and then for `settle`; `load`'s answers meanwhile are the record's."""
    record = RolloutRecord(version, time.time())
    lab.custom.patch_namespaced_custom_object(
        GROUP, VERSION, lab.namespace, PLURAL, name, patch or version_patch(version, faults)
    )

    def poll() -> bool:
        status = lab.status(name)
        canary = status.get("canary") or {}
        if canary.get("version") == version:
            record.revision = canary["revision"]
            point = (status.get("currentStep"), int(canary.get("weight", 0)))
            if not record.steps or record.steps[-1][1:] != point:
                record.steps.append((time.time(), *point))
        entry = decided(status, version)
        if canary.get("version") == version or (entry and not record.decided):
            # Until the decision, and the evidence it was taken on.
            judge = (status.get("analysis") or {}).get("judge") or {}
            for check in judge.get("checks") or []:
                record.evidence.append((time.time(), check["name"], float(check["evidence"])))
        if entry and not record.decided:
            record.decided = time.time()
            record.outcome, record.reason = entry["outcome"], entry.get("reason", "")
            record.revision = entry["revision"]
        on_poll(record, status)
        return bool(record.decided)

    wait_until(poll, timeout=timeout, what=f"a decision on {version}", interval=0.25)
    record.cluster = f"{lab.namespace}.{name}-{record.revision}"
    wait_until(lambda: settle(record), timeout=120, what=f"{version}'s rollout to settle")
    ended = time.time()
    applied = [a for a in lab.gateway.history if record.started <= a.at <= ended]
    record.shares = [(a.at, a.shares.get(record.cluster, 0.0)) for a in applied]
    record.mirrors = [(a.at, a.mirrors.get(record.cluster, 0.0)) for a in applied]
    record.outcomes = load.between(record.started, ended) if load is not None else []
    return record


def old_pods_gone(lab: Lab, keep: str) -> Callable[[RolloutRecord], bool]:
    """Settled when only `keep`'s pods still run a process (scale-down done)."""
    return lambda _: {e.version for e in lab.kubelet.endpoints()} == {keep}


def mirror_gone(lab: Lab, keep: str) -> Callable[[RolloutRecord], bool]:
    """Settled once only `keep` runs and Envoy mirrors nothing any more."""
    pods_gone = old_pods_gone(lab, keep)
    return lambda record: pods_gone(record) and not any(lab.gateway.history[-1].mirrors.values())


def settled_after(lab: Lab, version: str, stable: str) -> Callable[[RolloutRecord], bool]:
    """Settled when only the version serving after the decision runs: `version` if it
    was promoted, `stable` if it was rolled back."""
    return lambda r: old_pods_gone(lab, version if r.outcome == "Promoted" else stable)(r)
