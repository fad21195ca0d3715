"""What the engine reads besides spec and status (observations) and what it returns (actions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from modelrollout.api.status import Measurement, ModelDeploymentStatus

RequestAction = Literal["promote", "promote-full", "abort", "retry", "pause", "resume"]
REQUEST_ACTIONS: tuple[RequestAction, ...] = (
    "promote",
    "promote-full",
    "abort",
    "retry",
    "pause",
    "resume",
)


@dataclass(frozen=True)
class RevisionObservation:
    """A revision's Deployment as the cluster reports it."""

    replicas: int
    ready_replicas: int


@dataclass(frozen=True)
class Request:
    """A manual request not yet consumed; `token` is recorded so it is applied once."""

    action: RequestAction
    token: str


@dataclass(frozen=True)
class Observations:
    revisions: Mapping[str, RevisionObservation] = field(default_factory=dict)
    # One analysis run made this tick (all metrics), or None when none was due.
    measurements: tuple[Measurement, ...] | None = None
    request: Request | None = None


# -- actions: what the reconciler must make true, in order --------------------------


@dataclass(frozen=True)
class ApplyRevision:
    """Create or update the Deployment of the spec's current revision."""

    revision: str
    replicas: int


@dataclass(frozen=True)
class ScaleRevision:
    """Scale an existing revision's Deployment (its pod template is left untouched)."""

    revision: str
    replicas: int


@dataclass(frozen=True)
class PointServices:
    """Select pods of these revisions with the stable and canary Services."""

    stable: str
    canary: str


@dataclass(frozen=True)
class SetWeight:
    """Send `canary` percent of traffic to the canary Service and the rest to stable."""

    canary: int


@dataclass(frozen=True)
class DeleteRevision:
    revision: str


@dataclass(frozen=True)
class Emit:
    """An Event on the ModelDeployment."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = ApplyRevision | ScaleRevision | PointServices | SetWeight | DeleteRevision | Emit


@dataclass(frozen=True)
class Decision:
    status: ModelDeploymentStatus
    actions: tuple[Action, ...]

    def events(self) -> list[Emit]:
        return [a for a in self.actions if isinstance(a, Emit)]
