"""Rollouts in rounds of a good and a bad version, for tests that disturb the operator
meanwhile (leaders killed or frozen): each must end once, right, and with the route's
weights as a rollout moves them."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from testenv.exporter import Traffic
from testenv.procs import wait_until
from testenv.rollouts import Scenario

GOOD = Traffic(rps=50, error_ratio=0.0, latency_seconds=0.02)
BAD = Traffic(rps=50, error_ratio=0.5, latency_seconds=0.02)


def start_healthy(scenarios: list[Scenario]) -> set[str]:
    """Every other one (the bad ones, returned by name) fails on 2.0.0."""
    bad = {s.name for s in scenarios[1::2]}
    for s in scenarios:
        s.traffic("1.0.0", GOOD)
        s.traffic("2.0.0", BAD if s.name in bad else GOOD)
        s.create("1.0.0")
    for s in scenarios:
        s.wait_healthy("1.0.0", timeout=120)
    return bad


def _finished(s: Scenario, bad: set[str]) -> bool:
    st = s.status()
    if s.name in bad:
        return st.get("phase") == "RolledBack"
    return st.get("phase") == "Healthy" and st["stable"]["version"] == "2.0.0"


def wait_all_ended(scenarios: list[Scenario], bad: set[str], timeout: float) -> None:
    wait_until(
        lambda: all(_finished(s, bad) for s in scenarios),
        timeout=timeout,
        what=f"the {len(scenarios)} rollouts ended",
        interval=1.0,  # each look reads every ModelDeployment
    )


def roll_out_in_pairs(
    scenarios: list[Scenario],
    bad: set[str],
    timeout: float,
    meanwhile: Callable[[threading.Event], None] | None = None,
) -> None:
    """2.0.0 to a good and a bad one at a time, each pair to its end; `meanwhile` runs
    in a thread all along (until the event it is given is set), and what it raises is
    raised here."""
    stop, failures = threading.Event(), []

    def disturb() -> None:
        try:
            if meanwhile is not None:
                meanwhile(stop)
        except Exception as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=disturb, daemon=True)
    thread.start()
    try:
        for good, failing in zip(scenarios[::2], scenarios[1::2], strict=True):
            good.set_version("2.0.0")
            failing.set_version("2.0.0")

            def ended(pair: tuple[Scenario, Scenario] = (good, failing)) -> bool:
                return all(_finished(s, bad) for s in pair)

            wait_until(
                ended, timeout=timeout, what=f"the rollouts of {good.name} and {failing.name} ended"
            )
    finally:
        stop.set()
        thread.join()
    assert not failures, failures


def assert_each_ended_once(scenarios: list[Scenario], bad: set[str]) -> None:
    for s in scenarios:
        status = s.status()
        outcome = "RolledBack" if s.name in bad else "Promoted"
        assert [h["outcome"] for h in status["history"]] == [outcome], s.name
        assert s.recorder is not None
        weights = s.recorder.weights
        if s.name in bad:
            # Once the route took the bad canary's weight away, it never got any again.
            # It may never have had any: the stand-in exporter reports a version's
            # metrics whatever the route carries, so a successor can judge a weight its
            # frozen predecessor recorded but never wrote, and roll it back first.
            positive = [i for i, w in enumerate(weights) if w > 0]
            after = weights[weights.index(0, positive[0]) :] if positive else weights
            assert after == [0], ("a rolled-back canary got weight again", s.name, weights)
        else:
            assert weights == [0, 20, 50, 100, 0], (
                "weights repeated or backwards",
                s.name,
                weights,
            )
        assert Counter(r for _, r, _ in s.events())[outcome] <= 1, "never said twice"
