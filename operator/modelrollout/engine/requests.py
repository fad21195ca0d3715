"""A person's requests (promote, promote-full, abort, retry, pause, resume), consumed once.

Handled first in a tick, before and independently of any measurement.
"""

from __future__ import annotations

from collections.abc import Callable

from modelrollout.api.vocabulary import Phase, Reason
from modelrollout.engine.canary import skip_to_promotion
from modelrollout.engine.model import RequestAction
from modelrollout.engine.promotion import begin_promotion
from modelrollout.engine.rollback import roll_back
from modelrollout.engine.tick import Tick


def handle_request(t: Tick) -> None:
    request = t.obs.request
    if request is None or request.token == t.s.handled_request:
        return
    t.s.handled_request = request.token
    if request.action != "retry" and t.s.canary is None:
        t.emit("RequestIgnored", f"{request.action}: no rollout in progress")
        return
    REQUESTS[request.action](t)


def _retry(t: Tick) -> None:
    if t.s.aborted_revision is None:
        t.emit("RequestIgnored", "retry: nothing was rolled back")
        return
    t.s.aborted_revision = None
    t.s.phase = Phase.PROGRESSING
    t.emit(Reason.RETRIED, "retry requested: the rollout starts again")


def _abort(t: Tick) -> None:
    roll_back(t, Reason.ABORTED, "aborted by request")


def _pause(t: Tick) -> None:
    t.pause(Reason.PAUSED_BY_REQUEST, "paused by request")


def _resume(t: Tick) -> None:
    t.resume()
    t.emit(Reason.RESUMED, "resumed by request")


def _promote(t: Tick) -> None:
    """A canary moves on one step; a blue/green preview is promoted."""
    if t.traits.promote_request == "promotion":
        begin_promotion(t, "promotion requested", "promoted by request")
        return
    t.resume()
    t.advance_step()
    t.emit(Reason.STEP_ADVANCED, "step promoted by request")


def _promote_full(t: Tick) -> None:
    if t.traits.promote_request == "step":
        skip_to_promotion(t)  # the steps left are skipped
    begin_promotion(t, "full promotion requested", "fully promoted by request")


REQUESTS: dict[RequestAction, Callable[[Tick], None]] = {
    "abort": _abort,
    "pause": _pause,
    "resume": _resume,
    "promote": _promote,
    "promote-full": _promote_full,
    "retry": _retry,
}
