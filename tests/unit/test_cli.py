"""The operator's command line, without a cluster."""

from __future__ import annotations

import pytest

from modelrollout.handlers.main import parse_args


def test_defaults_watch_all_namespaces_without_liveness() -> None:
    args = parse_args([])
    assert args.namespace == []
    assert args.liveness is None


def test_namespaces_repeat() -> None:
    assert parse_args(["--namespace", "a", "--namespace", "b"]).namespace == ["a", "b"]


def test_namespace_and_all_namespaces_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--namespace", "a", "--all-namespaces"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
