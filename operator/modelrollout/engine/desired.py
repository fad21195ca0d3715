"""What a status implies for the cluster: revisions and their sizes, where the Services
point, the route state, due scale-downs and revisions to delete.

Re-asserted whole on every decision (level-triggered): the reconciler writes only
what differs from what it observes.
"""

from __future__ import annotations

from collections.abc import Callable

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.engine.canary import STEP_KINDS
from modelrollout.engine.model import (
    ApplyRevision,
    DeleteRevision,
    PointServices,
    RouteFeature,
    ScaleRevision,
    SetRoute,
)
from modelrollout.engine.promotion import STAGES, route_state
from modelrollout.engine.tick import Tick


def _canary_needs(spec: ModelDeploymentSpec) -> dict[RouteFeature, str]:
    canary = spec.strategy.canary
    assert canary is not None, "chosen by the strategy table"
    needs: dict[RouteFeature, str] = {"weights": "a canary"}
    for index, step in enumerate(canary.steps):
        feature = STEP_KINDS[step.kind].needs
        if feature is not None:
            needs.setdefault(feature, f"step {index + 1} ({step.kind})")
    return needs


def _blue_green_needs(spec: ModelDeploymentSpec) -> dict[RouteFeature, str]:
    """A switch works without a router (the stable Service's selector moves); preview
    traffic needs what it asks for."""
    blue_green = spec.strategy.blue_green
    assert blue_green is not None, "chosen by the strategy table"
    preview = blue_green.preview_traffic
    needs: dict[RouteFeature, str] = {}
    if preview is not None and preview.mirror is not None:
        needs["mirror"] = "blueGreen.previewTraffic.mirror"
    if preview is not None and preview.header_route is not None:
        needs["headerRoute"] = "blueGreen.previewTraffic.headerRoute"
    return needs


_STRATEGY_NEEDS: dict[str, Callable[[ModelDeploymentSpec], dict[RouteFeature, str]]] = {
    "canary": _canary_needs,
    "blueGreen": _blue_green_needs,
}


def route_features(spec: ModelDeploymentSpec) -> dict[RouteFeature, str]:
    """The route features this spec asks for, each with what asks for it first; the
    router must support every one."""
    return _STRATEGY_NEEDS[spec.strategy.kind](spec)


def assert_workloads(t: Tick) -> None:
    stable, canary, returning = t.stable, t.s.canary, t.s.returning
    for rev in (stable, canary, t.s.previous, returning):
        if rev is None:
            continue
        if rev.revision == t.revision:
            t.actions.append(ApplyRevision(rev.revision, rev.replicas))
        else:
            t.actions.append(ScaleRevision(rev.revision, rev.replicas))
    effect = STAGES[t.s.promotion_stage] if t.s.promotion_stage is not None else None
    switched = canary is not None and effect is not None and effect.stable_on_canary
    stable_target = canary.revision if switched and canary else stable.revision
    weighted = canary or returning  # the revision the canary Service's weight reaches
    services = PointServices(stable_target, weighted.revision if weighted else stable_target)
    route = SetRoute(route_state(t.s))
    # Traffic leaves a Service before its pods change, and reaches one only after: with no
    # canary weight (a rollback re-points the canary Service) the route goes first.
    no_weight = route.state.canary_weight == 0
    t.actions += [route, services] if no_weight else [services, route]


def due_scale_downs(t: Tick) -> None:
    # Still needed: by post-promotion analysis, or for the traffic it hands back.
    warm = {r.revision for r in (t.s.previous, t.s.returning) if r is not None}
    live = {r.revision for r in (t.s.stable, t.s.canary) if r is not None}
    keep = []
    for pending in t.s.scale_downs:
        if pending.revision in live:
            continue
        if pending.revision in warm:
            keep.append(pending)
        elif pending.at <= t.now:
            t.actions.append(ScaleRevision(pending.revision, 0))
        else:
            keep.append(pending)
    t.s.scale_downs = keep


def collect_garbage(t: Tick) -> None:
    """Delete revisions beyond the history limit that are scaled down and unreferenced."""
    wanted = {d.revision for d in t.s.scale_downs}
    wanted |= {r.revision for r in (t.s.stable, t.s.canary, t.s.returning) if r is not None}
    # Previous stables, newest first, for undo.
    previous = [h.from_revision for h in t.s.history if h.outcome == "Promoted"]
    wanted |= set(list(dict.fromkeys(previous))[: t.spec.revision_history_limit])
    for revision, seen in sorted(t.obs.revisions.items()):
        if revision not in wanted and seen.replicas == 0:
            t.actions.append(DeleteRevision(revision))
