"""Engine tables for blue/green: preview, pre-promotion analysis, switch, post-promotion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sim import World, healthy_world, measurement, spec

from modelrollout.api.vocabulary import Outcome, Phase, Reason
from modelrollout.engine.analysis import analysis_due
from modelrollout.engine.model import PointServices, Request

OK, FAILED = Outcome.SUCCESSFUL, Outcome.FAILED


def bg(**strategy: Any) -> dict[str, Any]:
    return {"blueGreen": {"scaleDownDelay": "5m", **strategy}}


def start(world: World, strategy: dict[str, Any], version: str = "2.0.0") -> str:
    world.spec = spec(version, strategy=strategy)
    world.tick()
    assert world.status.canary is not None
    return world.status.canary.revision


def test_preview_comes_up_at_full_size_without_live_traffic() -> None:
    world = healthy_world(strategy=bg())
    stable = world.spec.revision()
    preview = start(world, bg())
    world.tick()
    assert world.replicas[preview] == 4
    assert world.weight == 0
    assert world.services == (stable, preview), "the preview Service selects the new pods"
    assert Reason.PREVIEW_READY in world.reasons()


def test_preview_is_analysed_without_live_traffic() -> None:
    world = healthy_world(strategy=bg())
    start(world, bg())
    world.tick()
    assert analysis_due(world.spec, world.status, world.now + timedelta(seconds=31))


def test_without_auto_promotion_a_person_promotes() -> None:
    world = healthy_world(strategy=bg())
    preview = start(world, bg())
    world.tick()
    for _ in range(3):
        world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(minutes=10))
    assert world.status.phase == Phase.PAUSED
    assert world.status.pause_reason == Reason.AWAITING_PROMOTION
    world.tick(request=Request("promote", "p1"))
    for _ in range(4):
        world.tick()
    assert world.status.stable is not None
    assert world.status.stable.revision == preview
    assert world.weights_seen == [0, 100, 0], "all traffic moved at once"


def test_auto_promotion_after_the_delay_and_a_passing_measurement() -> None:
    strategy = bg(autoPromotionAfter="1m")
    world = healthy_world(strategy=strategy)
    preview = start(world, strategy)
    world.tick()
    world.tick(advance=timedelta(minutes=2))
    assert world.status.canary is not None, "no promotion without a successful measurement"
    for _ in range(5):
        world.tick(measurements=(measurement(OK, world.now),))
    assert world.status.stable is not None
    assert world.status.stable.revision == preview
    assert world.status.phase == Phase.HEALTHY


def test_preview_duration_is_a_minimum() -> None:
    strategy = bg(autoPromotionAfter="10s", previewDuration="5m")
    world = healthy_world(strategy=strategy)
    start(world, strategy)
    world.tick()
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(minutes=1))
    assert world.status.canary is not None
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(minutes=5))
    assert world.status.promotion_stage is not None


def test_failing_preview_is_rolled_back_before_any_switch() -> None:
    strategy = bg(autoPromotionAfter="1m")
    world = healthy_world(strategy=strategy, analysis=_strict())
    world.spec = spec("2.0.0", strategy=strategy, analysis=_strict())
    world.tick()
    world.tick()
    world.tick(measurements=(measurement(FAILED, world.now, 0.3),))
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.weights_seen == [0], "live traffic never moved"


def _strict() -> dict[str, Any]:
    return {
        "prometheus": {"url": "http://prometheus:9090"},
        "interval": "30s",
        "failureLimit": 0,
        "metrics": [{"name": "error-rate", "template": "errorRate", "max": 0.01}],
    }


def promoted(strategy: dict[str, Any]) -> tuple[World, str, str]:
    world = healthy_world(strategy=strategy, analysis=_strict())
    old = world.spec.revision()
    world.spec = spec("2.0.0", strategy=strategy, analysis=_strict())
    new = world.spec.revision()
    world.tick()
    world.tick()
    for _ in range(6):
        world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(seconds=31))
        if world.status.canary is None:
            break
    assert world.status.stable is not None
    assert world.status.stable.revision == new
    return world, old, new


def test_post_promotion_failure_switches_back_to_the_warm_previous_revision() -> None:
    world, old, new = promoted(bg(autoPromotionAfter="30s"))
    assert world.status.previous is not None
    assert world.replicas[old] == 4, "kept warm"
    decision = world.tick(measurements=(measurement(FAILED, world.now, 0.4),))
    assert world.status.phase == Phase.ROLLED_BACK
    assert world.status.stable is not None
    assert world.status.stable.revision == old
    assert PointServices(old, old) in decision.actions
    assert world.replicas[old] == 4, "no pod start: the old revision never went away"
    assert world.status.aborted_revision == new
    assert world.status.history[0].outcome == "RolledBack"
    world.tick(advance=timedelta(minutes=1))
    assert world.replicas[new] == 0
    assert world.status.phase == Phase.ROLLED_BACK


def test_post_promotion_window_ends_and_the_previous_revision_scales_down() -> None:
    world, old, _ = promoted(bg(autoPromotionAfter="30s"))
    world.tick(measurements=(measurement(OK, world.now),), advance=timedelta(minutes=2))
    assert world.status.previous is not None
    world.tick(advance=timedelta(minutes=4))
    assert world.status.previous is None
    assert world.replicas[old] == 0
    assert world.status.phase == Phase.HEALTHY


def test_a_new_version_during_post_promotion_ends_the_window() -> None:
    strategy = bg(autoPromotionAfter="30s")
    world, old, _ = promoted(strategy)
    world.spec = spec("3.0.0", strategy=strategy, analysis=_strict())
    world.tick()
    assert world.status.previous is None
    assert world.status.canary is not None
    world.tick(advance=timedelta(minutes=6))
    assert world.replicas[old] == 0, "the previous revision still scales down on schedule"
