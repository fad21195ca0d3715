"""A manual request's token, `ACTION:TIME-NONCE`, and the order of tokens.

A request runs once: the token handled last is never run again, and a token whose time
is before that one's is refused (both kept in status, so a restart of the operator
changes nothing). A GitOps tool that restores an older annotation, or a replay of one
seen before, is refused with a message instead of aborting or promoting again. Another
token of the same second runs: Argo CD's actions can only write whole seconds, and a
person may abort a moment after a promote. A token's time may not run ahead of the
operator's clock by more than MAX_AHEAD: a token from the far future would refuse every
real request until then.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelrollout.engine.model import REQUEST_ACTIONS, Request, RequestAction

MAX_TOKEN = 128
MAX_AHEAD = timedelta(minutes=5)
TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_TOKEN = re.compile(r"([a-z-]+):(\d{8}T\d{6}(?:\.\d{1,6})?Z)(?:-[A-Za-z0-9._-]{1,64})?")
FORMAT = "ACTION:YYYYMMDDTHHMMSS[.ffffff]Z[-ID] (UTC)"


@dataclass(frozen=True)
class Refused:
    """A request not to run, and why (said once per token)."""

    token: str  # at most MAX_TOKEN characters of it: what status keeps
    reason: str  # RequestInvalid or RequestRefused
    message: str


def mint(action: RequestAction, now: datetime) -> str:
    """A new token for `action` at `now`, with a nonce."""
    return f"{action}:{now.astimezone(UTC).strftime(TIME_FORMAT)}-{uuid.uuid4().hex[:6]}"


def token_time(token: str | None) -> datetime | None:
    match = _TOKEN.fullmatch(token or "")
    if match is None:
        return None
    stamp = match[2] if "." in match[2] else match[2][:-1] + ".0Z"
    return datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=UTC)


def read_request(value: str, handled: str | None, now: datetime) -> Request | Refused | None:
    """The request the annotation holds; None when it was handled already (the same
    token); Refused when it is malformed, a replay, or from the future."""
    if value == handled:
        return None
    shown = value if len(value) <= 64 else value[:64] + "..."
    match = _TOKEN.fullmatch(value) if len(value) <= MAX_TOKEN else None
    action = match[1] if match else None
    if match is None or action not in REQUEST_ACTIONS:
        return Refused(
            value[:MAX_TOKEN],
            "RequestInvalid",
            f"{shown!r}: expected {FORMAT} with ACTION one of {', '.join(REQUEST_ACTIONS)}",
        )
    at = token_time(value)
    assert at is not None
    last = token_time(handled)
    if last is not None and at < last:
        return Refused(
            value,
            "RequestRefused",
            f"{shown!r} is older than the last request handled ({handled}): "
            "a request runs once, so an older or replayed one is not run",
        )
    if at > now + MAX_AHEAD:
        return Refused(
            value,
            "RequestRefused",
            f"{shown!r} is over {MAX_AHEAD.total_seconds() / 60:g} minutes ahead of the clock",
        )
    return Request(next(a for a in REQUEST_ACTIONS if a == action), value)
