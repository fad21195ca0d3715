"""Durations as people write them in a spec: "30s", "2m", "1h30m", "500ms"."""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ValueError on anything the CRD pattern would reject."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 2m, 1h30m, 500ms)")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest spec-style text for a duration, used in PromQL range selectors."""
    ms = round(delta.total_seconds() * 1000)
    if ms % 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"
