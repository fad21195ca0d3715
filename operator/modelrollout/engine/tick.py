"""One decision in the making: the context every engine module works on.

A Tick holds a private, mutable copy of the status, the observations, the clock and
the actions decided so far. Its methods are the small state changes the strategies
share; helpers that only answer a question never emit or change anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from modelrollout.api.route_parts import HeaderMatch
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import (
    MAX_HISTORY,
    HistoryEntry,
    ModelDeploymentStatus,
    RevisionStatus,
    ScaleDown,
)
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.model import Action, Emit, Observations


@dataclass(frozen=True)
class StrategyTraits:
    """What sets one strategy apart where shared rules look at it (chosen once per tick)."""

    # A blue/green preview is judged on whoever calls it; a canary only on live traffic.
    judged_without_weight: bool
    # What a person's `promote` does: end the current step, or promote outright.
    promote_request: Literal["step", "promotion"]
    # After a blue/green switch the previous revision stays warm under analysis.
    analysis_after_switch: bool


TRAITS: dict[str, StrategyTraits] = {
    "canary": StrategyTraits(
        judged_without_weight=False, promote_request="step", analysis_after_switch=False
    ),
    "blueGreen": StrategyTraits(
        judged_without_weight=True, promote_request="promotion", analysis_after_switch=True
    ),
}

# Pauses the analysis caused: they lift once it passes again (a person's do not).
ANALYSIS_PAUSES = (Reason.ANALYSIS_ERRORS, Reason.ANALYSIS_INCONCLUSIVE)


def _stale(
    what: str, good: datetime | None, newest: datetime | None, period: timedelta, now: datetime
) -> str | None:
    if good is None:
        return f"a successful {what}"
    if newest is not None and newest > good:
        return f"a successful {what} (the latest did not succeed)"
    if now - good > period:
        return f"a successful {what} newer than {period.total_seconds():g}s"
    return None


class Tick:
    def __init__(
        self,
        spec: ModelDeploymentSpec,
        generation: int | None,
        status: ModelDeploymentStatus,
        obs: Observations,
        now: datetime,
    ) -> None:
        self.spec = spec
        self.generation = generation
        self.s = status.model_copy(deep=True)
        self.obs = obs
        self.now = now
        self.actions: list[Action] = []
        self.revision = spec.revision()
        self.digest = spec.digest()
        self.traits = TRAITS[spec.strategy.kind]
        # The weight the canary's pods may carry now, within a capacity budget
        # (budgeted.resize); the goal itself without a budget.
        self.weight_allowed = 100

    # -- questions ----------------------------------------------------------------------

    @property
    def stable(self) -> RevisionStatus:
        assert self.s.stable is not None, "only asked once a stable revision exists"
        return self.s.stable

    @property
    def canary(self) -> RevisionStatus:
        assert self.s.canary is not None, "only asked during a rollout"
        return self.s.canary

    def deadline_passed(self) -> bool:
        started = self.s.step_started_at or self.s.rollout_started_at or self.now
        return self.now - started > timedelta(seconds=self.spec.progress_deadline_seconds)

    def stable_service_on_canary(self) -> bool:
        """The stable Service's ready endpoints include the canary's pods."""
        seen = self.obs.revisions.get(self.canary.revision)
        return seen is not None and "stable" in seen.serving

    def canary_short_of_pods(self) -> bool:
        return self.canary.ready_replicas < self.canary.replicas

    def held(self) -> bool:
        """Paused by the spec, a request, a pause step or the analysis."""
        return self.spec.paused or self.s.pause_reason is not None

    def judged(self) -> bool:
        """Analysis applies to the canary now: it gets live traffic, or is a preview."""
        analysis = self.spec.analysis
        judged = self.canary.gets_traffic() or self.traits.judged_without_weight
        return analysis is not None and judged

    def pending_verdict(self) -> str | None:
        """What a judged step still needs before it may end: a successful run of the
        metrics, the judge's minimum of canary requests in the step, and fresh evidence
        (None: nothing)."""
        analysis = self.spec.analysis
        if analysis is None or not self.judged():
            return None
        if analysis.metrics and self.s.analysis.step_successes == 0:
            return "a successful measurement"
        judge = self.s.analysis.judge
        if analysis.judge is not None and analysis.judge.goals():
            # A goal replaces "no rejection and a minimum sample" with a confidence bound.
            met = {c.name for c in judge.checks if c.goal_met} if judge is not None else set()
            unmet = [g.label() for g in analysis.judge.goals() if g.label() not in met]
            if unmet:
                return f"the judge to show its goals ({', '.join(unmet)})"
            return self.stale_evidence()
        seen = judge.step_requests if judge is not None else 0.0
        needed = max(1, analysis.min_sample_size)
        if analysis.judge is not None and seen < needed:
            return f"the judge to count {needed} canary requests in this step ({seen:.0f} so far)"
        return self.stale_evidence()

    def stale_evidence(self) -> str | None:
        """Traffic moves forward only on fresh evidence: the newest measurement run (and
        the judge's newest look) succeeded and is at most one interval (one scrape) old.
        A run or look is taken whenever one is due before a decision is made, so an
        older one means the newest failed. None: fresh, or nothing judges the canary."""
        analysis = self.spec.analysis
        if analysis is None or not self.judged():
            return None
        a = self.s.analysis
        if analysis.metrics:
            stale = _stale(
                "measurement", a.last_success_at, a.last_run_at, analysis.interval_delta(), self.now
            )
            if stale:
                return stale
        if analysis.judge is not None:
            judge = a.judge
            read = judge.read_at if judge is not None else None
            last = judge.evaluated_at if judge is not None else None
            return _stale("look of the judge", read, last, analysis.scrape_delta(), self.now)
        return None

    # -- state changes ------------------------------------------------------------------

    def emit(self, reason: str, message: str, *, warning: bool = False) -> None:
        """An Event that is also the status message."""
        self.actions.append(Emit("Warning" if warning else "Normal", reason, message))
        self.s.message = message

    def event(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        """An Event only (a measurement run), leaving the status message alone."""
        self.actions.append(Emit(type_, reason, message))

    def observe(self, rev: RevisionStatus) -> None:
        seen = self.obs.revisions.get(rev.revision)
        rev.ready_replicas = seen.ready_replicas if seen else 0

    def record(
        self,
        outcome: str,
        reason: str,
        rolled: RevisionStatus | None = None,
        base: RevisionStatus | None = None,
    ) -> None:
        """A history entry for the rollout that just ended (newest first, bounded)."""
        canary, stable = rolled or self.canary, base or self.stable
        entry = HistoryEntry(
            version=canary.version,
            revision=canary.revision,
            outcome=outcome,
            reason=reason,
            from_version=stable.version,
            from_revision=stable.revision,
            from_digest=stable.digest,
            started_at=self.s.rollout_started_at,
            finished_at=self.now,
        )
        self.s.history = [entry, *self.s.history][:MAX_HISTORY]

    def schedule_scale_down(self, revision: str, delay: timedelta) -> None:
        if self.spec.splits_by_pods():
            delay = timedelta(0)  # a pod left running would take a share of the traffic
        pending = [d for d in self.s.scale_downs if d.revision != revision]
        self.s.scale_downs = [*pending, ScaleDown(revision=revision, at=self.now + delay)]

    def end_rollout(self) -> None:
        self.s.canary = None
        self.s.current_step = None
        self.s.step_started_at = None
        self.s.weight_set_at = None
        self.s.rollout_started_at = None
        self.s.plan = None
        self.s.promotion_stage = None
        self.s.promotion_reason = None
        self.s.pause_reason = None

    def set_weight(self, weight: int) -> None:
        if self.canary.weight != weight:
            self.canary.weight = weight
            self.s.weight_set_at = self.now
        self.stable.weight = 100 - weight

    def set_mirror(self, percent: int) -> None:
        if self.canary.mirror != percent:
            self.canary.mirror = percent
            self.s.weight_set_at = self.now

    def set_header_route(self, headers: tuple[HeaderMatch, ...]) -> None:
        if tuple(self.canary.header_route) != headers:
            self.canary.header_route = list(headers)
            self.s.weight_set_at = self.now

    def advance_step(self) -> None:
        self.s.current_step = (self.s.current_step or 0) + 1
        self.s.step_started_at = self.now
        self.s.analysis.step_successes = 0
        if self.s.analysis.judge is not None:
            self.s.analysis.judge.step_requests = 0

    def pause(self, reason: str, message: str) -> None:
        """Pause (an Event only when the pause or its reason is new)."""
        if self.s.phase != Phase.PAUSED or self.s.pause_reason != reason:
            self.emit(reason, message, warning=reason in ANALYSIS_PAUSES)
        self.s.phase = Phase.PAUSED
        self.s.pause_reason = reason if reason != Reason.PAUSED_BY_SPEC else None
        self.s.message = message

    def pause_if_held(self) -> bool:
        """Keep a held rollout Paused and say so; True when it is held."""
        if self.spec.paused:
            self.pause(Reason.PAUSED_BY_SPEC, "paused by spec.paused")
            return True
        if self.s.pause_reason is not None:
            self.s.phase = Phase.PAUSED
            return True
        return False

    def resume(self) -> None:
        self.s.pause_reason = None
        self.s.phase = Phase.PROGRESSING
