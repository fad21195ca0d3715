"""The rollout state machine: (spec, status, observations, now) -> (next status, actions).

Level-triggered: every tick re-asserts the whole desired state (revisions, Services,
weights), so a process that died between acting and recording just does it again.
Only facts that cannot be re-derived (step, timers, counters, history) live in status.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import CanaryStrategy, ModelDeploymentSpec
from modelrollout.api.status import (
    MAX_HISTORY,
    MAX_MEASUREMENTS,
    AnalysisStatus,
    HistoryEntry,
    Measurement,
    ModelDeploymentStatus,
    RevisionStatus,
    ScaleDown,
)
from modelrollout.api.vocabulary import ConditionType, Outcome, Phase, Reason
from modelrollout.engine.analysis import run_outcome
from modelrollout.engine.conditions import set_condition
from modelrollout.engine.model import (
    Action,
    ApplyRevision,
    Decision,
    DeleteRevision,
    Emit,
    Observations,
    PointServices,
    ScaleRevision,
    SetWeight,
)

# Promotion stages, one tick each so the data plane can follow.
_SCALE_UP, _ALL_TO_CANARY, _SWITCH_STABLE, _BACK_TO_STABLE = 0, 1, 2, 3


def canary_replicas(total: int, weight: int) -> int:
    """Pods the canary needs for `weight` percent of traffic: proportional, at least one."""
    return max(1, math.ceil(total * weight / 100))


class _Tick:
    """One decision in the making: a private, mutable copy of the status plus actions."""

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

    # -- small helpers ---------------------------------------------------------------

    @property
    def canary_strategy(self) -> CanaryStrategy:
        strategy = self.spec.strategy.canary
        assert strategy is not None, "checked by the reconciler before deciding"
        return strategy

    def emit(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.actions.append(Emit("Warning" if warning else "Normal", reason, message))
        self.s.message = message

    def ready(self, revision: str) -> int:
        seen = self.obs.revisions.get(revision)
        return seen.ready_replicas if seen else 0

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
        canary, stable = rolled or self.s.canary, base or self.s.stable
        assert canary is not None
        assert stable is not None
        entry = HistoryEntry(
            version=canary.version,
            revision=canary.revision,
            outcome=outcome,
            reason=reason,
            from_version=stable.version,
            from_revision=stable.revision,
            started_at=self.s.rollout_started_at,
            finished_at=self.now,
        )
        self.s.history = [entry, *self.s.history][:MAX_HISTORY]

    def schedule_scale_down(self, revision: str, delay: timedelta) -> None:
        pending = [d for d in self.s.scale_downs if d.revision != revision]
        self.s.scale_downs = [*pending, ScaleDown(revision=revision, at=self.now + delay)]

    def end_rollout(self) -> None:
        self.s.canary = None
        self.s.current_step = None
        self.s.step_started_at = None
        self.s.weight_set_at = None
        self.s.rollout_started_at = None
        self.s.promotion_stage = None
        self.s.pause_reason = None

    def set_weight(self, weight: int) -> None:
        canary = self.s.canary
        assert canary is not None
        if canary.weight != weight:
            canary.weight = weight
            self.s.weight_set_at = self.now
        assert self.s.stable is not None
        self.s.stable.weight = 100 - weight

    def advance_step(self) -> None:
        self.s.current_step = (self.s.current_step or 0) + 1
        self.s.step_started_at = self.now
        self.s.analysis.step_successes = 0

    def deadline_passed(self) -> bool:
        started = self.s.step_started_at or self.s.rollout_started_at or self.now
        return self.now - started > timedelta(seconds=self.spec.progress_deadline_seconds)

    # -- the decision -----------------------------------------------------------------

    def decide(self) -> Decision:
        self.handle_request()
        stable = self.s.stable
        if stable is None or (
            stable.ready_replicas == 0 and self.s.canary is None and not self.s.history
        ):
            self.deploy_directly()
        else:
            if self.s.canary is not None and self.s.canary.revision != self.revision:
                self.supersede()
            self.follow_spec()
        self.assert_workloads()
        self.due_scale_downs()
        self.collect_garbage()
        self.update_conditions()
        self.s.observed_generation = self.generation
        return Decision(self.s, tuple(self.actions))

    def follow_spec(self) -> None:
        """The spec's revision decides: steady state, a standing rollback, or a rollout."""
        stable = self.s.stable
        assert stable is not None
        if self.revision == stable.revision:
            self.steady()
        elif self.revision == self.s.aborted_revision:
            self.stay_rolled_back()
        else:
            if self.s.canary is None:
                self.start_rollout()
            self.progress()

    def deploy_directly(self) -> None:
        """First deployment (or replacing one that never served): no canary, no analysis."""
        previous = self.s.stable
        if previous is None or previous.revision != self.revision:
            if previous is not None:
                self.schedule_scale_down(previous.revision, timedelta(0))
            self.s.stable = RevisionStatus(
                version=self.spec.model.version, revision=self.revision, weight=100
            )
            self.s.step_started_at = self.now
            self.s.phase = Phase.PROGRESSING
            self.emit(Reason.FIRST_DEPLOYMENT, f"deploying version {self.spec.model.version}")
        self.steady()

    def steady(self) -> None:
        """The spec's revision is stable: keep it at full size, all traffic on it."""
        stable = self.s.stable
        assert stable is not None
        stable.version = self.spec.model.version
        stable.replicas = self.spec.replicas
        stable.weight = 100
        self.observe(stable)
        if self.s.previous is not None and self.post_promotion():
            return
        self.s.aborted_revision = None  # the spec is back on the stable version: moved on
        if stable.ready_replicas >= self.spec.replicas:
            if self.s.phase != Phase.HEALTHY:
                self.s.phase = Phase.HEALTHY
                self.s.step_started_at = None
                self.emit(
                    Reason.AVAILABLE,
                    f"version {stable.version} is serving: "
                    f"{stable.ready_replicas}/{self.spec.replicas} ready",
                )
        elif self.s.phase == Phase.PROGRESSING and self.deadline_passed():
            self.s.phase = Phase.DEGRADED
            self.emit(
                Reason.PROGRESS_DEADLINE_EXCEEDED,
                f"version {stable.version} not ready after "
                f"{self.spec.progress_deadline_seconds}s: "
                f"{stable.ready_replicas}/{self.spec.replicas} ready",
                warning=True,
            )
        elif self.s.phase == Phase.HEALTHY:
            self.s.phase = Phase.PROGRESSING
            self.s.step_started_at = self.now

    def stay_rolled_back(self) -> None:
        stable = self.s.stable
        assert stable is not None
        stable.replicas = self.spec.replicas
        stable.weight = 100
        self.observe(stable)
        self.s.phase = Phase.ROLLED_BACK

    def supersede(self) -> None:
        """A newer revision arrived mid-rollout: the old canary loses its traffic at once."""
        canary = self.s.canary
        assert canary is not None
        self.set_weight(0)
        self.schedule_scale_down(canary.revision, timedelta(0))
        self.record("Superseded", f"superseded by version {self.spec.model.version}")
        self.emit(
            Reason.SUPERSEDED,
            f"version {canary.version} superseded by {self.spec.model.version} mid-rollout; "
            "it gets no more traffic",
        )
        self.end_rollout()

    def start_rollout(self) -> None:
        stable = self.s.stable
        assert stable is not None
        self.s.canary = RevisionStatus(version=self.spec.model.version, revision=self.revision)
        # A newer version ends a post-promotion window early; its scale-down stays scheduled.
        self.s.previous = None
        self.s.post_promotion_until = None
        self.s.scale_downs = [d for d in self.s.scale_downs if d.revision != self.revision]
        self.s.current_step = 0
        self.s.step_started_at = self.now
        self.s.rollout_started_at = self.now
        self.s.weight_set_at = None
        self.s.promotion_stage = None
        self.s.pause_reason = None
        self.s.aborted_revision = None
        self.s.rollback_reason = None
        self.s.analysis = AnalysisStatus()
        self.s.phase = Phase.PROGRESSING
        self.emit(
            Reason.ROLLOUT_STARTED,
            f"rolling out version {self.spec.model.version} over {stable.version}",
        )

    # -- a canary in progress ------------------------------------------------------------

    def progress(self) -> None:
        canary, stable = self.s.canary, self.s.stable
        assert canary is not None
        assert stable is not None
        stable.replicas = self.spec.replicas
        self.observe(stable)
        self.observe(canary)
        if self.obs.measurements is not None:
            self.apply_analysis(self.obs.measurements)
            if self.s.canary is None:
                return  # rolled back
        if self.s.promotion_stage is not None:
            self.promote()
            return
        if self.spec.strategy.blue_green is not None:
            self.preview()
            return
        steps = self.canary_strategy.steps
        step_index = self.s.current_step or 0
        target = steps[step_index].set_weight if step_index < len(steps) else None
        canary.replicas = canary_replicas(
            self.spec.replicas, max(canary.weight, target if target is not None else 0)
        )
        if self.waiting_for_pods("canary"):
            return
        if self.held():
            return
        self.s.phase = Phase.PROGRESSING
        if step_index >= len(steps):
            self.finish_steps()
            return
        step = steps[step_index]
        if step.set_weight is not None:
            self.set_weight(step.set_weight)
            self.advance_step()
            self.emit(
                Reason.STEP_ADVANCED,
                f"step {step_index + 1}/{len(steps)}: canary weight {step.set_weight}%",
            )
            return
        assert step.pause is not None
        if step.pause.duration is None:
            self.pause(
                Reason.PAUSE_STEP, f"step {step_index + 1}/{len(steps)}: waiting for promotion"
            )
            return
        elapsed = self.now - (self.s.step_started_at or self.now)
        if elapsed < parse_duration(step.pause.duration):
            return
        if self.needs_a_pass():
            self.s.message = (
                f"step {step_index + 1}/{len(steps)}: waiting for a successful measurement"
            )
            return
        self.advance_step()
        self.emit(
            Reason.STEP_ADVANCED,
            f"step {step_index + 1}/{len(steps)}: pause of {step.pause.duration} done",
        )

    def waiting_for_pods(self, what: str, *, promoting: bool = False) -> bool:
        """True while the canary lacks ready pods: a rollback at the progress deadline,
        else a message saying what it waits for (a promotion is not held by pauses)."""
        canary = self.s.canary
        assert canary is not None
        if canary.ready_replicas >= canary.replicas:
            return False
        ready = f"{canary.ready_replicas}/{canary.replicas} ready"
        if self.deadline_passed():
            self.roll_back(
                Reason.PROGRESS_DEADLINE_EXCEEDED,
                f"{what} of version {canary.version} not ready after "
                f"{self.spec.progress_deadline_seconds}s ({ready})",
            )
        elif promoting or not self.held():
            self.s.phase = Phase.PROGRESSING
            self.s.message = f"{what}: {ready}"
        return True

    def needs_a_pass(self) -> bool:
        """With analysis and live canary traffic, a step ends only after a successful run."""
        canary = self.s.canary
        return (
            self.spec.analysis is not None
            and canary is not None
            and (canary.weight > 0 or self.spec.strategy.blue_green is not None)
            and self.s.analysis.step_successes == 0
        )

    def held(self) -> bool:
        """Paused by the spec, a request, a pause step or the analysis."""
        if self.spec.paused:
            self.pause(Reason.PAUSED_BY_SPEC, "paused by spec.paused")
            return True
        if self.s.pause_reason is not None:
            self.s.phase = Phase.PAUSED
            return True
        return False

    def pause(self, reason: str, message: str) -> None:
        if self.s.phase != Phase.PAUSED or self.s.pause_reason != reason:
            self.emit(
                reason,
                message,
                warning=reason in (Reason.ANALYSIS_INCONCLUSIVE, Reason.ANALYSIS_ERRORS),
            )
        self.s.phase = Phase.PAUSED
        self.s.pause_reason = reason if reason != Reason.PAUSED_BY_SPEC else None
        self.s.message = message

    def finish_steps(self) -> None:
        if self.needs_a_pass():
            self.s.message = "all steps done: waiting for a final successful measurement"
            return
        self.s.promotion_stage = _SCALE_UP
        self.emit(Reason.PROMOTING, f"promoting version {self.spec.model.version}")
        self.promote()

    def promote(self) -> None:
        """Move traffic and the stable pointer to the canary's warm pods; restart nothing."""
        canary, stable = self.s.canary, self.s.stable
        assert canary is not None
        assert stable is not None
        stage = self.s.promotion_stage or 0
        canary.replicas = self.spec.replicas
        if stage == _SCALE_UP:
            if self.waiting_for_pods("promoting: canary at full size", promoting=True):
                return
            self.s.promotion_stage = _ALL_TO_CANARY
            self.set_weight(100)
        elif stage == _ALL_TO_CANARY:
            self.s.promotion_stage = _SWITCH_STABLE
        elif stage == _SWITCH_STABLE:
            self.s.promotion_stage = _BACK_TO_STABLE
        else:
            old = stable.revision
            self.record("Promoted", "all steps passed")
            self.s.stable = RevisionStatus(
                version=canary.version,
                revision=canary.revision,
                weight=100,
                replicas=self.spec.replicas,
                ready_replicas=canary.ready_replicas,
            )
            delay = self.spec.strategy.scale_down_delay()
            self.schedule_scale_down(old, parse_duration(delay))
            self.end_rollout()
            if self.spec.strategy.blue_green is not None and self.spec.analysis is not None:
                # Post-promotion analysis while the previous revision stays warm.
                self.s.previous = stable.model_copy(update={"weight": 0})
                self.s.post_promotion_until = self.now + parse_duration(delay)
                self.s.analysis.last_run_at = self.now
            self.s.phase = Phase.HEALTHY
            self.emit(
                Reason.PROMOTED,
                f"version {canary.version} promoted; {stable.version} scales down after {delay}",
            )

    def preview(self) -> None:
        """Blue/green before the switch: the new revision at full size, no live traffic."""
        canary = self.s.canary
        strategy = self.spec.strategy.blue_green
        assert canary is not None
        assert strategy is not None
        canary.replicas = self.spec.replicas
        if self.waiting_for_pods("preview"):
            return
        if not self.s.current_step:
            self.s.current_step = 1  # 1: the preview is ready; timers count from here
            self.s.step_started_at = self.now
            self.emit(Reason.PREVIEW_READY, f"preview of version {canary.version} is ready")
        if self.held():
            return
        self.s.phase = Phase.PROGRESSING
        elapsed = self.now - (self.s.step_started_at or self.now)
        if strategy.preview_duration and elapsed < parse_duration(strategy.preview_duration):
            self.s.message = f"preview under analysis for at least {strategy.preview_duration}"
            return
        if self.needs_a_pass():
            self.s.message = "preview ready: waiting for a successful measurement"
            return
        if strategy.auto_promotion_after is None:
            self.pause(
                Reason.AWAITING_PROMOTION, "preview ready and passing: waiting for promotion"
            )
            return
        if elapsed < parse_duration(strategy.auto_promotion_after):
            self.s.message = f"preview passing: promotion after {strategy.auto_promotion_after}"
            return
        self.s.promotion_stage = _SCALE_UP
        self.emit(Reason.PROMOTING, f"promoting version {canary.version}")
        self.promote()

    def post_promotion(self) -> bool:
        """After a blue/green switch; True when it switched traffic back (a rollback)."""
        if self.obs.measurements is not None:
            self.apply_analysis(self.obs.measurements)
            if self.s.phase == Phase.ROLLED_BACK:
                return True
        until = self.s.post_promotion_until
        if until is None or self.now >= until:
            self.s.previous = None
            self.s.post_promotion_until = None
        return False

    def switch_back(self, reason: str, message: str, delay: timedelta) -> None:
        """Post-promotion failure: the stable Service goes back to the warm previous pods."""
        new, old = self.s.stable, self.s.previous
        assert new is not None
        assert old is not None
        self.record("RolledBack", message, rolled=new, base=old)
        self.s.stable = old.model_copy(update={"weight": 100, "replicas": self.spec.replicas})
        self.s.previous = None
        self.s.post_promotion_until = None
        self.schedule_scale_down(new.revision, delay)
        self.s.aborted_revision = new.revision
        self.s.phase = Phase.ROLLED_BACK
        self.s.rollback_reason = reason
        self.emit(reason, f"rolled back after the switch: {message}", warning=True)

    def roll_back(self, reason: str, message: str) -> None:
        delay = parse_duration(self.spec.strategy.abort_scale_down_delay())
        if self.s.canary is None:
            self.switch_back(reason, message, delay)
            return
        canary = self.s.canary
        self.set_weight(0)
        self.schedule_scale_down(canary.revision, delay)
        self.record("RolledBack", message)
        self.s.aborted_revision = canary.revision
        self.end_rollout()
        self.s.phase = Phase.ROLLED_BACK
        self.s.rollback_reason = reason
        self.emit(reason, f"rolled back: {message}", warning=True)

    # -- analysis ---------------------------------------------------------------------

    def apply_analysis(self, measurements: tuple[Measurement, ...]) -> None:
        analysis = self.s.analysis
        assert self.spec.analysis is not None
        outcome = run_outcome(measurements)
        analysis.last_run_at = self.now
        analysis.last = [*measurements, *analysis.last][:MAX_MEASUREMENTS]
        summary = _summary(measurements)
        if outcome != Outcome.ERROR:
            analysis.consecutive_errors = 0
        if outcome == Outcome.SUCCESSFUL:
            analysis.successful += 1
            analysis.step_successes += 1
            self.actions.append(Emit("Normal", "AnalysisSuccessful", summary))
            # A pause the analysis caused lifts once it passes again; a person's pause does not.
            if self.s.pause_reason in (Reason.ANALYSIS_ERRORS, Reason.ANALYSIS_INCONCLUSIVE):
                self.s.pause_reason = None
                self.s.phase = Phase.PROGRESSING
                self.emit(Reason.RESUMED, f"analysis passes again: rollout resumed ({summary})")
        elif outcome == Outcome.FAILED:
            analysis.failed += 1
            limit = self.spec.analysis.failure_limit
            failing = "; ".join(
                f"{m.metric}: {m.message}" for m in measurements if m.outcome == Outcome.FAILED
            )
            self.actions.append(
                Emit(
                    "Warning", "AnalysisFailed", f"{summary} [failed {analysis.failed}/{limit + 1}]"
                )
            )
            if analysis.failed > limit:
                self.roll_back(Reason.ANALYSIS_FAILED, failing)
        elif outcome == Outcome.INCONCLUSIVE:
            analysis.inconclusive += 1
            if self.s.canary is not None:  # after a switch there is nothing left to pause
                self.pause(
                    Reason.ANALYSIS_INCONCLUSIVE, f"analysis inconclusive, never a pass: {summary}"
                )
        else:
            analysis.errors += 1
            analysis.consecutive_errors += 1
            self.actions.append(Emit("Warning", "AnalysisError", summary))
            limit = self.spec.analysis.consecutive_error_limit
            if self.s.canary is not None and analysis.consecutive_errors >= limit:
                self.pause(
                    Reason.ANALYSIS_ERRORS,
                    f"{analysis.consecutive_errors} analysis errors in a row: paused until "
                    f"Prometheus answers ({summary})",
                )

    # -- manual requests -------------------------------------------------------------

    def handle_request(self) -> None:
        request = self.obs.request
        if request is None or request.token == self.s.handled_request:
            return
        self.s.handled_request = request.token
        canary = self.s.canary
        action = request.action
        if action == "retry":
            if self.s.aborted_revision is None:
                self.emit("RequestIgnored", "retry: nothing was rolled back")
                return
            self.s.aborted_revision = None
            self.s.phase = Phase.PROGRESSING
            self.emit(Reason.RETRIED, "retry requested: the rollout starts again")
            return
        if canary is None:
            self.emit("RequestIgnored", f"{action}: no rollout in progress")
            return
        if action == "abort":
            self.roll_back(Reason.ABORTED, "aborted by request")
        elif action == "pause":
            self.pause(Reason.PAUSED_BY_REQUEST, "paused by request")
        elif action == "resume":
            self.s.pause_reason = None
            self.s.phase = Phase.PROGRESSING
            self.emit(Reason.RESUMED, "resumed by request")
        elif action == "promote" and self.spec.strategy.blue_green is not None:
            self.s.pause_reason = None
            self.s.promotion_stage = _SCALE_UP
            self.emit(Reason.PROMOTING, "promotion requested")
        elif action == "promote":
            self.s.pause_reason = None
            self.s.phase = Phase.PROGRESSING
            self.advance_step()
            self.emit(Reason.STEP_ADVANCED, "step promoted by request")
        else:  # promote-full
            self.s.pause_reason = None
            if self.spec.strategy.canary is not None:
                self.s.current_step = len(self.spec.strategy.canary.steps)
            self.s.promotion_stage = _SCALE_UP
            self.emit(Reason.PROMOTING, "full promotion requested")

    # -- what must be true in the cluster -----------------------------------------------

    def assert_workloads(self) -> None:
        stable, canary = self.s.stable, self.s.canary
        assert stable is not None
        for rev in (stable, canary, self.s.previous):
            if rev is None:
                continue
            if rev.revision == self.revision:
                self.actions.append(ApplyRevision(rev.revision, rev.replicas))
            else:
                self.actions.append(ScaleRevision(rev.revision, rev.replicas))
        stage = self.s.promotion_stage
        switched = stage is not None and stage >= _SWITCH_STABLE and canary is not None
        stable_target = canary.revision if switched and canary else stable.revision
        self.actions.append(
            PointServices(stable_target, canary.revision if canary else stable_target)
        )
        weight = canary.weight if canary else 0
        if stage in (_BACK_TO_STABLE, _SWITCH_STABLE):
            weight = 100 if stage == _SWITCH_STABLE else 0
        self.actions.append(SetWeight(weight))

    def due_scale_downs(self) -> None:
        warm = self.s.previous.revision if self.s.previous else None
        live = {
            self.s.stable.revision if self.s.stable else None,
            self.s.canary.revision if self.s.canary else None,
        }
        keep = []
        for pending in self.s.scale_downs:
            if pending.revision in live:
                continue
            if pending.revision == warm:
                keep.append(pending)  # still needed by post-promotion analysis
                continue
            if pending.at <= self.now:
                self.actions.append(ScaleRevision(pending.revision, 0))
            else:
                keep.append(pending)
        self.s.scale_downs = keep

    def collect_garbage(self) -> None:
        """Delete revisions beyond the history limit that are scaled down and unreferenced."""
        wanted = {d.revision for d in self.s.scale_downs}
        wanted |= {r.revision for r in (self.s.stable, self.s.canary) if r is not None}
        # Previous stables, newest first, for undo.
        previous = [h.from_revision for h in self.s.history if h.outcome == "Promoted"]
        wanted |= set(list(dict.fromkeys(previous))[: self.spec.revision_history_limit])
        for revision, seen in sorted(self.obs.revisions.items()):
            if revision not in wanted and seen.replicas == 0:
                self.actions.append(DeleteRevision(revision))

    def update_conditions(self) -> None:
        c, gen, now = self.s.conditions, self.generation, self.now
        stable = self.s.stable
        ready = stable is not None and stable.ready_replicas >= self.spec.replicas
        c = set_condition(
            c,
            ConditionType.READY,
            ready,
            Reason.AVAILABLE if ready else Reason.NOT_AVAILABLE,
            f"{stable.ready_replicas if stable else 0}/{self.spec.replicas} stable pods ready",
            gen,
            now,
        )
        rolling = self.s.canary is not None or self.s.phase == Phase.PROGRESSING
        c = set_condition(
            c,
            ConditionType.PROGRESSING,
            rolling,
            Reason.ROLLOUT_STARTED
            if rolling
            else (
                Reason.PROGRESS_DEADLINE_EXCEEDED
                if self.s.phase == Phase.DEGRADED
                else Reason.STABLE
            ),
            self.s.message if rolling else "no rollout in progress",
            gen,
            now,
        )
        paused = self.s.phase == Phase.PAUSED
        c = set_condition(
            c,
            ConditionType.PAUSED,
            paused,
            (self.s.pause_reason or Reason.PAUSED_BY_SPEC) if paused else Reason.RESUMED,
            self.s.message if paused else "",
            gen,
            now,
        )
        rolled_back = self.s.phase == Phase.ROLLED_BACK
        last = self.s.history[0] if self.s.history else None
        c = set_condition(
            c,
            ConditionType.ROLLED_BACK,
            rolled_back,
            (self.s.rollback_reason or Reason.ANALYSIS_FAILED) if rolled_back else Reason.STABLE,
            last.reason if rolled_back and last else "",
            gen,
            now,
        )
        self.s.conditions = c


def _summary(measurements: tuple[Measurement, ...]) -> str:
    """One line for a run; a reason shared by every metric (no data, no Prometheus) once."""
    if not measurements:
        return "nothing measured"
    first = measurements[0]
    if len(measurements) > 1 and all(
        (m.outcome, m.message) == (first.outcome, first.message) for m in measurements
    ):
        return f"all metrics: {first.outcome.value} ({first.message})"
    return "; ".join(f"{m.metric}: {m.outcome.value} ({m.message})" for m in measurements)


def decide(
    spec: ModelDeploymentSpec,
    generation: int | None,
    status: ModelDeploymentStatus,
    obs: Observations,
    now: datetime,
) -> Decision:
    """The next status and the actions that make the cluster match it."""
    return _Tick(spec, generation, status, obs, now).decide()
