"""The kubectl plugin's pure parts: which requests make sense, and the status view."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from rich.console import Console

from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import (
    HistoryEntry,
    Measurement,
    ModelDeploymentStatus,
    RevisionStatus,
)
from modelrollout.api.vocabulary import Outcome, Phase
from modelrollout.cli.main import parse_args
from modelrollout.cli.requests import refusal
from modelrollout.cli.view import history_table, render

NOW = datetime(2026, 11, 22, tzinfo=UTC)
STABLE = RevisionStatus(version="1", revision="aaa", weight=80, replicas=4, ready_replicas=4)
CANARY = RevisionStatus(version="2", revision="bbb", weight=20, replicas=1, ready_replicas=1)


def status(phase: Phase, canary: bool = True, **fields: object) -> ModelDeploymentStatus:
    return ModelDeploymentStatus(
        phase=phase,
        stable=STABLE,
        canary=CANARY if canary else None,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("action", "state", "refused"),
    [
        ("promote", status(Phase.PROGRESSING), None),
        ("promote", status(Phase.HEALTHY, canary=False), "no rollout in progress"),
        ("abort", status(Phase.PAUSED), None),
        ("abort", status(Phase.ROLLED_BACK, canary=False), "no rollout in progress"),
        ("retry", status(Phase.ROLLED_BACK, canary=False, aborted_revision="bbb"), None),
        ("retry", status(Phase.HEALTHY, canary=False), "nothing to retry"),
        ("resume", status(Phase.PROGRESSING), "not paused"),
        ("resume", status(Phase.PAUSED), None),
        ("pause", status(Phase.PAUSED), "already paused"),
        ("pause", status(Phase.PROGRESSING), None),
    ],
)
def test_requests_that_make_no_sense_are_refused(
    action: str, state: ModelDeploymentStatus, refused: str | None
) -> None:
    why = refusal(action, state)  # type: ignore[arg-type]
    if refused is None:
        assert why is None
    else:
        assert why is not None
        assert refused in why


SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": {"version": "2"},
        "template": {},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]}},
        "traffic": {"gatewayAPI": {"httpRoute": "r"}},
    }
)


def _text(renderable: object) -> str:
    console = Console(record=True, width=160)
    console.print(renderable)
    return console.export_text()


def test_status_view_marks_the_current_step_and_shows_measurements() -> None:
    st = status(Phase.PAUSED, current_step=1, message="waiting for promotion")
    st.analysis.last = [
        Measurement(
            metric="error-rate",
            outcome=Outcome.FAILED,
            value=0.2,
            max=0.01,
            message="0.2 is above the maximum 0.01",
            at=NOW,
        )
    ]
    text = _text(render("fraud", SPEC, st))
    assert "Paused" in text
    assert re.search(r">\s+pause \(until promoted\)", text)
    assert re.search(r"✓\s+setWeight 20%", text)
    assert "error-rate" in text
    assert "max 0.01" in text
    assert "20%" in text


def test_history_view() -> None:
    st = status(Phase.HEALTHY, canary=False)
    st.history = [
        HistoryEntry(
            version="2",
            revision="bbb",
            outcome="RolledBack",
            reason="error-rate",
            from_version="1",
            finished_at=NOW,
        )
    ]
    text = _text(history_table(st))
    assert "RolledBack" in text
    assert "2 (bbb)" in text


def test_promote_full_flag() -> None:
    args = parse_args(["-n", "ml", "promote", "fraud", "--full"])
    assert (args.command, args.name, args.full, args.namespace) == ("promote", "fraud", True, "ml")


def test_undo_goes_back_to_the_stable_before_the_last_promotion() -> None:
    from modelrollout.cli.requests import undo_target

    st = status(Phase.HEALTHY, canary=False)
    st.history = [
        HistoryEntry(
            version="3", revision="c", outcome="RolledBack", from_revision="b", finished_at=NOW
        ),
        HistoryEntry(
            version="2", revision="b", outcome="Promoted", from_revision="a", finished_at=NOW
        ),
    ]
    assert undo_target(st).from_revision == "a"
    with pytest.raises(LookupError, match="nothing to undo"):
        undo_target(status(Phase.HEALTHY, canary=False))
