"""What one look did to one check: the check's new state, or why it took nothing."""

from __future__ import annotations

from dataclasses import dataclass

from modelrollout.api.judge_status import JudgeCheck


@dataclass(frozen=True)
class Look:
    check: JudgeCheck  # the state after the look (unchanged when it took nothing)
    problem: str = ""  # why it took no evidence: no data, or a count that went down
    canary_requests: float = 0.0  # the canary's requests this look counted


def times(value: float) -> str:
    """Evidence in words: 87x, 1.2e+07x."""
    return f"{value:.3g}x" if value < 1e6 else f"{value:.1e}x"
