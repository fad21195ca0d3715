"""Train the example model at build time and write it as a small JSON artifact.

A scikit-learn pipeline (standard scaling, then multinomial logistic regression) fit on
the iris data set that scikit-learn ships. The artifact holds only numbers, so serving
needs numpy but not scikit-learn, and loading it runs no code (unlike a pickle).

    python -m model_server.train --out model.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0


def train() -> tuple[dict[str, Any], Any]:
    """The artifact, and the fitted scikit-learn pipeline it was exported from."""
    iris = load_iris()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    pipeline.fit(iris.data, iris.target)
    scaler, classifier = pipeline[0], pipeline[1]
    low, high = iris.data.min(axis=0).tolist(), iris.data.max(axis=0).tolist()
    artifact = {
        "kind": "logistic-regression",
        "dataset": "iris (scikit-learn)",
        "features": [str(name) for name in iris.feature_names],
        "classes": [str(name) for name in iris.target_names],
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": classifier.coef_.tolist(),
        "intercept": classifier.intercept_.tolist(),
        "training_accuracy": float(pipeline.score(iris.data, iris.target)),
        # Input validation: each feature within its training range, widened by half of it.
        "ranges": [
            [lo - (hi - lo) / 2, hi + (hi - lo) / 2] for lo, hi in zip(low, high, strict=True)
        ],
    }
    return artifact, pipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    artifact, _ = train()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(artifact, indent=1) + "\n")
    print(f"wrote {args.out} (training accuracy {artifact['training_accuracy']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
