"""LAB-ONLY: the model-server "image": its source folder and its trained artifact.

Training happens once (as an image build would) and is cached.
"""

from __future__ import annotations

import json
from pathlib import Path

from testenv import settings

SOURCE = settings.REPO_ROOT / "examples" / "model-server"
ARTIFACT = settings.CACHE_DIR / "model-server" / "model.json"


def ensure_model() -> Path:
    # An artifact from before input validation (no "ranges") is trained again.
    if not ARTIFACT.exists() or "ranges" not in json.loads(ARTIFACT.read_text()):
        from model_server.train import train  # scikit-learn is only needed here

        artifact, _ = train()
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        tmp = ARTIFACT.with_suffix(".tmp")
        tmp.write_text(json.dumps(artifact))
        tmp.rename(ARTIFACT)
    return ARTIFACT
