"""The served model: the trained artifact evaluated with numpy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


class BadInput(ValueError):
    """The request's instances are not rows of the model's features, or a feature is
    outside the range the model was trained for."""


Prediction = dict[str, Any]


@dataclass(frozen=True)
class Model:
    features: list[str]
    classes: list[str]
    mean: Matrix
    scale: Matrix
    coef: Matrix
    intercept: Matrix
    ranges: Matrix | None = None  # per feature (lowest, highest) accepted; None: any

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any]) -> Model:
        if artifact.get("kind") != "logistic-regression":
            raise ValueError(f"unsupported model kind {artifact.get('kind')!r}")
        model = cls(
            features=list(artifact["features"]),
            classes=list(artifact["classes"]),
            mean=np.asarray(artifact["mean"], dtype=np.float64),
            scale=np.asarray(artifact["scale"], dtype=np.float64),
            coef=np.asarray(artifact["coef"], dtype=np.float64),
            intercept=np.asarray(artifact["intercept"], dtype=np.float64),
            ranges=np.asarray(artifact["ranges"], dtype=np.float64)
            if "ranges" in artifact
            else None,
        )
        n_features, n_classes = len(model.features), len(model.classes)
        if model.coef.shape != (n_classes, n_features) or model.intercept.shape != (n_classes,):
            raise ValueError("model artifact shapes do not match its features and classes")
        return model

    @classmethod
    def load(cls, path: Path) -> Model:
        return cls.from_artifact(json.loads(path.read_text()))

    def probabilities(self, instances: Any) -> Matrix:
        rows = self._rows(instances)
        logits = ((rows - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)  # softmax without overflow
        exp = np.exp(logits)
        probabilities: Matrix = exp / exp.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, instances: Any) -> list[Prediction]:
        return [self.prediction(row) for row in self.probabilities(instances)]

    def prediction(self, row: Matrix) -> Prediction:
        return {
            "label": self.classes[int(row.argmax())],
            "probabilities": {
                c: round(float(p), 6) for c, p in zip(self.classes, row, strict=True)
            },
        }

    def valid(self, prediction: Prediction) -> bool:
        """Output validation: a known class, and probabilities that are probabilities."""
        probabilities = prediction.get("probabilities")
        if prediction.get("label") not in self.classes or not isinstance(probabilities, dict):
            return False
        values = [probabilities.get(c) for c in self.classes]
        numbers = [v for v in values if isinstance(v, float) and 0.0 <= v <= 1.0]
        return len(numbers) == len(values) and abs(sum(numbers) - 1.0) < 1e-3

    def _rows(self, instances: Any) -> Matrix:
        if not isinstance(instances, list) or not instances:
            raise BadInput("'instances' must be a non-empty list of feature rows")
        width = len(self.features)
        for row in instances:
            if (
                not isinstance(row, list)
                or len(row) != width
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
            ):
                raise BadInput(f"each instance must be {width} numbers: {', '.join(self.features)}")
        rows: Matrix = np.asarray(instances, dtype=np.float64)
        if not np.isfinite(rows).all():
            raise BadInput("instances must be finite numbers")
        if self.ranges is not None:
            outside = (rows < self.ranges[:, 0]) | (rows > self.ranges[:, 1])
            if outside.any():
                feature = self.features[int(outside.any(axis=0).argmax())]
                raise BadInput(f"{feature} is outside the range the model was trained for")
        return rows
