"""The manual-request annotation: parsed, consumed once, in the order of its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrollout.engine.model import Request
from modelrollout.engine.request_token import Refused, mint, token_time
from modelrollout.reconcile import parse_request

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
KEY = "modelrollout.io/request"


def parse(value: str, handled: str | None = None) -> Request | Refused | None:
    return parse_request({KEY: value}, handled, NOW)


def test_known_actions_are_parsed_with_the_whole_value_as_token() -> None:
    value = "promote-full:20261122T120000Z-ab12cd"
    assert parse(value) == Request("promote-full", value)
    assert parse("abort:20261205T115959.123456Z") == Request(
        "abort", "abort:20261205T115959.123456Z"
    )


def test_the_plugin_mints_tokens_in_the_order_of_time() -> None:
    first, second = mint("pause", NOW), mint("resume", NOW + timedelta(microseconds=1))
    assert parse(first) == Request("pause", first)
    assert parse(second, handled=first) == Request("resume", second)
    assert token_time(first) == NOW


def test_absent_requests_are_nothing_and_the_handled_token_is_not_run_again() -> None:
    assert parse_request({}) is None
    assert parse_request({KEY: ""}) is None
    token = "abort:20261205T110000Z-x"
    assert parse(token, handled=token) is None


@pytest.mark.parametrize(
    "value",
    [
        "explode:20261205T110000Z",
        "abort:1",
        "abort",
        "abort:20261205T110000Z-" + "x" * 65,
        "abort:20261205T110000Z-a b",
        "abort:2026-12-05T11:00:00Z",
        "abort:20261205T110000Z\nINFO forged",
        "a" * 100_000,
    ],
)
def test_a_malformed_request_is_invalid_and_shown_bounded_and_escaped(value: str) -> None:
    refused = parse(value)
    assert isinstance(refused, Refused)
    assert refused.reason == "RequestInvalid"
    assert "expected ACTION:YYYYMMDDTHHMMSS" in refused.message
    assert len(refused.message) < 300
    assert "\n" not in refused.message
    assert len(refused.token) <= 128


@pytest.mark.parametrize(
    ("value", "handled"),
    [
        ("abort:20261205T110000Z-old", "pause:20261205T110001Z-new"),  # a GitOps restore
        ("abort:20261205T110000.5Z-a", "pause:20261205T110000.500001Z-b"),
    ],
)
def test_a_request_older_than_the_last_handled_is_refused(value: str, handled: str) -> None:
    refused = parse(value, handled)
    assert isinstance(refused, Refused)
    assert refused.reason == "RequestRefused"
    assert "is older than the last request handled" in refused.message


def test_another_request_of_the_same_second_runs() -> None:
    """Argo CD's actions write whole seconds: an abort right after a promote runs."""
    token = "abort:20261205T110001Z-argocd"
    assert parse(token, "promote:20261205T110001Z-argocd") == Request("abort", token)


def test_a_request_from_the_future_is_refused_so_it_cannot_block_later_ones() -> None:
    ahead = mint("abort", NOW + timedelta(minutes=6))
    refused = parse(ahead)
    assert isinstance(refused, Refused)
    assert "ahead of the clock" in refused.message
    near = mint("abort", NOW + timedelta(minutes=4))
    assert parse(near) == Request("abort", near)
