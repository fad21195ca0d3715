"""Switches that make a deliberately bad version, read from the environment.

MODEL_FAULT_ERROR_RATE       share of /predict requests answered 500 (0..1)
MODEL_FAULT_LATENCY_SECONDS  added to every /predict request (its median, with a spread)
MODEL_FAULT_LATENCY_SPREAD   the added latency varies as a log-normal of this sigma (0:
                             constant), as real latency does
MODEL_FAULT_SLOW_START_SECONDS  readiness stays 503 this long after start (a slow model load)
MODEL_FAULT_DRIFT_SHARE      share of predictions answered with the first class whatever the
                             input: a model fast and healthy but wrong (a broken feature
                             pipeline, a wrong artifact)
MODEL_FAULT_INVALID_OUTPUT_SHARE  share of predictions out of range (probabilities above 1),
                             which the server's output validation refuses
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

PREFIX = "MODEL_FAULT_"


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    slow_start_seconds: float = 0.0
    drift_share: float = 0.0
    invalid_output_share: float = 0.0
    latency_spread: float = 0.0

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
            drift_share=number("DRIFT_SHARE", 1.0),
            invalid_output_share=number("INVALID_OUTPUT_SHARE", 1.0),
            latency_spread=number("LATENCY_SPREAD", 3.0),
        )

    def delay(self, chance: Random) -> float:
        """The latency added to one request."""
        spread = chance.lognormvariate(0.0, self.latency_spread) if self.latency_spread else 1.0
        return self.latency_seconds * spread

    def distort(
        self, prediction: dict[str, Any], classes: list[str], chance: Random
    ) -> dict[str, Any]:
        """The prediction as the faulty model would answer it."""
        if self.drift_share and chance.random() < self.drift_share:
            rest = 0.1 / max(len(classes) - 1, 1)
            probabilities = {c: (0.9 if c == classes[0] else rest) for c in classes}
            return {"label": classes[0], "probabilities": probabilities}
        if self.invalid_output_share and chance.random() < self.invalid_output_share:
            label = prediction["label"]
            return {**prediction, "probabilities": {**prediction["probabilities"], label: 1.5}}
        return prediction
