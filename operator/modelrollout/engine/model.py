"""What the engine reads besides spec and status (observations) and what it returns (actions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from modelrollout.api.route_parts import HeaderMatch
from modelrollout.api.status import Measurement, ModelDeploymentStatus
from modelrollout.engine.checks.reads import Tallies

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
    """A revision's Deployment as the cluster reports it.

    `ready_replicas` counts pods that are Ready *and* behind one of our Services as ready
    endpoints: the Deployment reports a pod ready before the EndpointSlice controller has
    added it, and traffic sent in between finds no endpoint. `serving` names the Services
    (stable, canary) whose ready endpoints include this revision's pods. `pods` counts
    the pods that hold resources or soon will: asked for, running, or still terminating
    (what a capacity budget counts).
    """

    replicas: int
    ready_replicas: int
    applied: str | None = None  # fingerprint of the body last applied to it, if any
    serving: frozenset[str] = frozenset()
    pods: int = 0


@dataclass(frozen=True)
class Request:
    """A manual request not yet consumed; `token` is recorded so it is applied once."""

    action: RequestAction
    token: str


@dataclass(frozen=True)
class JudgeReading:
    """One look of the comparative judge: the sums its plan asked for, of what canary
    and stable served since `since` (checks/reads.py); or why there are none."""

    since: datetime
    tallies: Tallies | None = None
    problem: str = ""  # why no counts: no data yet, or a reason nothing can be compared
    error: bool = False  # the provider failed (unreachable, refused): an analysis error


@dataclass(frozen=True)
class Slot:
    """Whether a rollout may start under the operator's limits of rollouts at once, and
    if not, its place in line and what holds the slots."""

    granted: bool
    position: int = 0
    limit: str = ""
    held_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observations:
    revisions: Mapping[str, RevisionObservation] = field(default_factory=dict)
    # One analysis run made this tick (all metrics), or None when none was due.
    measurements: tuple[Measurement, ...] | None = None
    request: Request | None = None
    # The judge's look this tick, or None when none was due.
    judge: JudgeReading | None = None
    # The route carries what the status as read implies (a step is done only once it
    # does: promotion.route_state).
    route_carried: bool = True
    # Weighted rules whose owner wrote `filters: []`, while no mirror of ours is on the
    # route (None: ours is on it, so the owner's own shape cannot be seen now).
    route_empty_filters: tuple[int, ...] | None = None
    # A rollout slot, asked for when a rollout would start (None: no limit applies).
    slot: Slot | None = None


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


RouteFeature = Literal["weights", "mirror", "headerRoute"]


@dataclass(frozen=True)
class RouteState:
    """All the operator asks of a route: one state, applied whole by the router.

    `canary_weight` percent of live traffic goes to the canary Service, the rest to
    stable; `mirror` percent of it is also copied to the canary (answers discarded);
    requests with all of `header_route`'s headers go to the canary whatever the weights.
    Each part beyond weights is named by a RouteFeature that routers declare they support.
    """

    canary_weight: int
    mirror: int = 0
    header_route: tuple[HeaderMatch, ...] = ()
    # Weighted rules whose owner wrote an empty `filters` list: it stays when our mirror
    # leaves (elsewhere the list we added goes with it), so the route is as its owner
    # wrote it. Not a traffic state: `describe` leaves it out.
    empty_filters: tuple[int, ...] = ()

    def describe(self) -> str:
        parts = [f"canary weight {self.canary_weight}%"]
        if self.mirror:
            parts.append(f"{self.mirror}% mirrored to it")
        if self.header_route:
            parts.append(f"a header route on {', '.join(h.name for h in self.header_route)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class SetRoute:
    """Make the route carry this state (only the parts the router supports)."""

    state: RouteState


@dataclass(frozen=True)
class DeleteRevision:
    revision: str


@dataclass(frozen=True)
class Emit:
    """An Event on the ModelDeployment."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = ApplyRevision | ScaleRevision | PointServices | SetRoute | DeleteRevision | Emit


@dataclass(frozen=True)
class Decision:
    status: ModelDeploymentStatus
    actions: tuple[Action, ...]
    # When to decide again if nothing changes (engine.schedule); None: only on a change.
    next_due: datetime | None = None

    def events(self) -> list[Emit]:
        return [a for a in self.actions if isinstance(a, Emit)]
