"""Blue/green: a full-size preview, one switch, then a watch.

Before the switch the new revision runs at full size behind the preview (canary)
Service and is judged on whoever calls it: once ready, it also gets the live traffic
previewTraffic asks for (mirrored copies, header-matched requests), which ends at the
switch or a rollback. The switch is a promotion. After it, the
previous revision stays warm for scaleDownDelay while analysis goes on; a failure
then switches traffic straight back (rollback.py).
"""

from __future__ import annotations

from modelrollout.api.durations import parse_duration
from modelrollout.api.spec import BlueGreenStrategy
from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.budgeted import resize
from modelrollout.engine.promotion import begin_promotion, promote
from modelrollout.engine.rollback import wait_for_pods_or_roll_back
from modelrollout.engine.tick import Tick
from modelrollout.engine.verdict import apply_run


def _strategy(t: Tick) -> BlueGreenStrategy:
    strategy = t.spec.strategy.blue_green
    assert strategy is not None, "chosen by the strategy table"
    return strategy


def progress(t: Tick) -> None:
    """The preview before the switch."""
    strategy, canary = _strategy(t), t.canary
    resize(t, 100, 0)  # full size; stable too (a budget allows both: the CRD checks it)
    if wait_for_pods_or_roll_back(t, "preview"):
        return
    _preview_traffic(t, strategy)
    if not t.s.current_step:
        t.s.current_step = 1  # 1: the preview is ready; timers count from here
        t.s.step_started_at = t.now
        t.emit(Reason.PREVIEW_READY, f"preview of version {canary.version} is ready{_gets(t)}")
    if t.pause_if_held():
        return
    t.s.phase = Phase.PROGRESSING
    elapsed = t.now - (t.s.step_started_at or t.now)
    if strategy.preview_duration and elapsed < parse_duration(strategy.preview_duration):
        t.s.message = f"preview under analysis for at least {strategy.preview_duration}"
        return
    pending = t.pending_verdict()
    if pending:
        t.s.message = f"preview ready: waiting for {pending}"
        return
    if strategy.auto_promotion_after is None:
        t.pause(Reason.AWAITING_PROMOTION, "preview ready and passing: waiting for promotion")
        return
    if elapsed < parse_duration(strategy.auto_promotion_after):
        t.s.message = f"preview passing: promotion after {strategy.auto_promotion_after}"
        return
    begin_promotion(t, f"promoting version {canary.version}", "the preview passed")
    promote(t)


def _preview_traffic(t: Tick, strategy: BlueGreenStrategy) -> None:
    """The ready preview gets what previewTraffic asks for (re-asserted: a spec edit
    during the preview applies at once)."""
    preview = strategy.preview_traffic
    mirror = preview.mirror if preview else None
    header_route = preview.header_route if preview else None
    t.set_mirror(mirror.percent if mirror else 0)
    t.set_header_route(header_route.headers() if header_route else ())


def _gets(t: Tick) -> str:
    parts = []
    if t.canary.mirror:
        parts.append(f"{t.canary.mirror}% of live requests mirrored")
    if t.canary.header_route:
        parts.append("header-matched requests")
    return f" and gets {' and '.join(parts)}" if parts else ""


def watch_after_switch(t: Tick) -> bool:
    """Post-promotion analysis while the previous revision is warm; True when it
    switched traffic back (a rollback). The window closes at post_promotion_until."""
    if apply_run(t, t.obs.measurements):
        return True
    until = t.s.post_promotion_until
    if until is None or t.now >= until:
        t.s.previous = None
        t.s.post_promotion_until = None
    return False
