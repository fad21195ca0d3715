"""Switches that make a deliberately bad version, read from the environment.

MODEL_FAULT_ERROR_RATE       share of /predict requests answered 500 (0..1)
MODEL_FAULT_LATENCY_SECONDS  added to every /predict request
MODEL_FAULT_SLOW_START_SECONDS  readiness stays 503 this long after start (a slow model load)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "MODEL_FAULT_"


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    slow_start_seconds: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Faults:
        def number(name: str, upper: float) -> float:
            raw = env.get(PREFIX + name, "0")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{PREFIX}{name}={raw!r} is not a number") from None
            if not math.isfinite(value) or not 0 <= value <= upper:
                raise ValueError(f"{PREFIX}{name}={raw!r} must be between 0 and {upper}")
            return value

        return cls(
            error_rate=number("ERROR_RATE", 1.0),
            latency_seconds=number("LATENCY_SECONDS", 60.0),
            slow_start_seconds=number("SLOW_START_SECONDS", 3600.0),
        )
