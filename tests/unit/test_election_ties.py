"""The event loop's ties to the election (handlers.election_ties): the loops hear when
the replica leads, the election hears the event loop turn, and the beat stops at
cleanup (kopf would otherwise wait 5 s for it at every shutdown)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import kopf
import pytest

from modelrollout.handlers import election_ties


class Fence:
    def __init__(self) -> None:
        self.beats = 0
        self.callbacks: list[Callable[[], None]] = []

    def holds(self) -> bool:
        return True

    def when_leading(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def alive(self) -> None:
        self.beats += 1


def test_the_loops_hear_the_lease_and_the_election_hears_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(election_ties, "HEARTBEAT_SECONDS", 0.001)

    async def scenario() -> tuple[int, bool, bool]:
        fence = Fence()
        runtime = SimpleNamespace(fence=fence, leading=asyncio.Event())
        memo = kopf.Memo(runtime=runtime)
        await election_ties.follow_the_lease(memo=memo)
        while fence.beats < 3:  # the beat goes on while the event loop turns
            await asyncio.sleep(0.001)
        assert not runtime.leading.is_set(), "a standby's loops wait"
        (leading,) = fence.callbacks
        leading()  # as from the thread that hears the election
        await asyncio.wait_for(runtime.leading.wait(), timeout=30)
        await election_ties.stop_the_heartbeat(memo=memo)
        beating: asyncio.Task[None] = memo["heartbeat"]
        await asyncio.wait([beating], timeout=30)
        return fence.beats, runtime.leading.is_set(), beating.cancelled()

    beats, leading, stopped = asyncio.run(scenario())
    assert beats >= 3
    assert leading
    assert stopped, "cleanup ends the beat"
