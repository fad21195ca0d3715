"""Phases, condition types and reasons: the words the status, events and docs share."""

from __future__ import annotations

from enum import StrEnum

# Manual requests: `<action>:<unique id>`, consumed once (see engine.model.Request).
REQUEST_ANNOTATION = "modelrollout.io/request"
# The field manager of everything the operator writes (server-side apply and patches).
FIELD_MANAGER = "modelrollout"


class Phase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"


class PromotionStage(StrEnum):
    """A promotion, one tick per stage so the data plane can follow (see engine.promotion)."""

    SCALE_UP = "ScaleUp"
    ALL_TO_CANARY = "AllToCanary"
    SWITCH_STABLE = "SwitchStable"
    BACK_TO_STABLE = "BackToStable"


# Releases up to 0.1.0 wrote the stage as its index; a status written then still reads.
LEGACY_PROMOTION_STAGES = tuple(PromotionStage)


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    ROLLED_BACK = "RolledBack"
    INVALID_SPEC = "InvalidSpec"
    # True while the last reconcile could not finish (the cluster or a provider failed).
    RECONCILE_ERROR = "ReconcileError"


class Outcome(StrEnum):
    """How one measurement came out (Argo Rollouts' four-way split)."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class Reason(StrEnum):
    # Ready / Progressing
    AVAILABLE = "Available"
    NOT_AVAILABLE = "NotAvailable"
    FIRST_DEPLOYMENT = "FirstDeployment"
    ROLLOUT_STARTED = "RolloutStarted"
    QUEUED = "Queued"  # waiting for a rollout slot
    STEP_ADVANCED = "StepAdvanced"
    PLAN_CHANGED = "PlanChanged"
    WEIGHT_MOVED = "WeightMoved"  # part of a step's weight, as far as the budget allows
    TRAFFIC_HANDED_BACK = "TrafficHandedBack"  # a rollback under a budget, done
    PREVIEW_READY = "PreviewReady"
    PROMOTING = "Promoting"
    PROMOTED = "Promoted"
    SUPERSEDED = "Superseded"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    STABLE = "Stable"
    # Paused
    PAUSE_STEP = "PauseStep"
    AWAITING_PROMOTION = "AwaitingPromotion"
    PAUSED_BY_SPEC = "PausedBySpec"
    PAUSED_BY_REQUEST = "PausedByRequest"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    ANALYSIS_ERRORS = "AnalysisErrors"
    RESUMED = "Resumed"
    # RolledBack
    ANALYSIS_FAILED = "AnalysisFailed"
    CANARY_WORSE = "CanaryWorse"  # the judge's evidence reached its boundary
    GOAL_MET = "GoalMet"  # a goal of the judge is shown (not worse, or better)
    GOAL_NOT_MET = "GoalNotMet"  # a goal was not shown within the judge's deadline
    ABORTED = "Aborted"
    RETRIED = "Retried"
    # InvalidSpec
    INVALID_SPEC = "InvalidSpec"
    ROUTE_NOT_FOUND = "RouteNotFound"
    ROUTE_INVALID = "RouteInvalid"
    SPEC_VALID = "SpecValid"
    # ReconcileError
    RECONCILE_FAILED = "ReconcileFailed"
    RECONCILED = "Reconciled"
    STATUS_WRITE_FAILED = "StatusWriteFailed"
