"""Parsing the manual-request annotation."""

from __future__ import annotations

from modelrollout.engine.model import Request
from modelrollout.reconcile import parse_request


def test_known_actions_are_parsed_with_the_whole_value_as_token() -> None:
    value = "promote-full:20261122T120000Z-ab12cd"
    assert parse_request({"modelrollout.io/request": value}) == Request("promote-full", value)


def test_unknown_or_absent_requests_are_ignored() -> None:
    assert parse_request({}) is None
    assert parse_request({"modelrollout.io/request": ""}) is None
    assert parse_request({"modelrollout.io/request": "explode:1"}) is None
