"""What a canary step or a blue/green preview asks of the route beyond weights: a copy
of live requests (a mirror), and requests that meet conditions (a header route)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from modelrollout.api.base import Model, Rule
from modelrollout.api.fields import NO_CONTROLS

# RFC 7230 token characters, as Gateway API's HTTPHeaderName allows them.
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$"
# RFC 6265 cookie-octets (no quote, comma, semicolon, backslash or space).
_COOKIE_VALUE = r"^[!#-+\--:<-\[\]-~]+$"
# Envoy (under most Gateway API implementations and Istio) refuses a regular expression
# whose RE2 program is larger than 100 instructions by default, and with it the whole
# route update: a cookie becomes one (name and value, with about 20 instructions
# around them), so name and value stay within 32 + 40 characters (72: Envoy 1.36
# accepts up to about 80), and a RegularExpression header value within 64 characters
# (a repetition such as {1000} can still exceed it: keep patterns literal and short).
MAX_COOKIE_NAME, MAX_COOKIE_VALUE, MAX_HEADER_REGEX = 32, 40, 64


class HeaderMatch(Model):
    """A request header's value, as Gateway API matches it."""

    name: str = Field(
        min_length=1, max_length=256, pattern=_HEADER_NAME, description="Header name."
    )
    value: str = Field(
        min_length=1, max_length=4096, pattern=NO_CONTROLS, description="Value it must have."
    )
    type: Literal["Exact", "RegularExpression"] = Field(
        default="Exact",
        description=(
            "Exact, or RegularExpression (the gateway's regular-expression dialect; "
            "Envoy-based gateways use RE2 and match the whole value)."
        ),
    )

    def describe(self) -> str:
        """`name=value`, or `name~regex`."""
        return f"{self.name}{'=' if self.type == 'Exact' else '~'}{self.value}"


class CookieMatch(Model):
    """A cookie's exact value (sent to the router as a regular expression on Cookie)."""

    name: str = Field(
        min_length=1,
        max_length=MAX_COOKIE_NAME,
        pattern=_HEADER_NAME,
        description="Cookie name (gateways match it with a regular expression, so short).",
    )
    value: str = Field(
        min_length=1,
        max_length=MAX_COOKIE_VALUE,
        pattern=_COOKIE_VALUE,
        description="Exact value (gateways match it with a regular expression, so short).",
    )


class RequestCondition(Model):
    """One condition on a request: a header or a cookie. Exactly one of the two."""

    __rules__ = (
        Rule(
            "[has(self.header), has(self.cookie)].exists_one(x, x)",
            "a condition sets exactly one of header or cookie",
            lambda c: (c.header is None) != (c.cookie is None),
        ),
        # On the condition, not HeaderMatch: a cookie's own regular expression (in the
        # status) is longer, and bounded by the cookie's name and value instead.
        Rule(
            "!has(self.header) || self.header.type != 'RegularExpression' || "
            f"self.header.value.size() <= {MAX_HEADER_REGEX}",
            f"a RegularExpression header value is at most {MAX_HEADER_REGEX} characters "
            "(gateways refuse larger regular expressions, and with them the whole route)",
            lambda c: (
                c.header is None
                or c.header.type != "RegularExpression"
                or len(c.header.value) <= MAX_HEADER_REGEX
            ),
        ),
    )
    header: HeaderMatch | None = Field(default=None, description="A header's value.")
    cookie: CookieMatch | None = Field(default=None, description="A cookie's value.")

    def as_header(self) -> HeaderMatch:
        """The condition as a header match (a cookie: a regular expression on Cookie,
        anchored so it means the same whether the gateway matches whole or part)."""
        if self.header is not None:
            return self.header
        assert self.cookie is not None, "exactly one is set (CEL)"
        pair = f"{re.escape(self.cookie.name)}={re.escape(self.cookie.value)}"
        return HeaderMatch(
            name="Cookie", type="RegularExpression", value=f"^(.*;[ \\t]*)?{pair}([ \\t]*;.*)?$"
        )


class Mirror(Model):
    """Copy live requests to the new revision; users are answered by the stable one."""

    percent: int = Field(
        ge=0,
        le=100,
        strict=True,
        description=(
            "Percent of live requests copied to the new revision. Its answers are "
            "discarded, so no user sees them; analysis judges it on its own metrics. "
            "0 ends the mirror."
        ),
    )


class HeaderRoute(Model):
    """Send requests that meet every condition to the new revision, whatever the weights."""

    __rules__ = (
        Rule(
            "self.match.filter(m, has(m.cookie)).size() <= 1 && self.match.all(m, "
            "!has(m.header) || (m.header.name.lowerAscii() != 'cookie' && "
            "self.match.filter(o, has(o.header) && "
            "o.header.name.lowerAscii() == m.header.name.lowerAscii()).size() == 1))",
            "header names must be unique, with at most one cookie (match cookies with "
            "cookie:, not a Cookie header)",
            lambda route: route.unique_names(),
        ),
    )
    match: list[RequestCondition] = Field(
        max_length=8,
        description=(
            "Conditions a request must all meet (header values, a cookie). "
            "An empty list ends the header route."
        ),
    )

    def unique_names(self) -> bool:
        names = [c.header.name.lower() for c in self.match if c.header is not None]
        cookies = sum(c.cookie is not None for c in self.match)
        return cookies <= 1 and "cookie" not in names and len(set(names)) == len(names)

    def headers(self) -> tuple[HeaderMatch, ...]:
        return tuple(c.as_header() for c in self.match)


class PreviewTraffic(Model):
    """Live traffic for a blue/green preview, so pre-promotion analysis has data."""

    mirror: Mirror | None = Field(
        default=None, description="Copy live requests to the preview (answers discarded)."
    )
    header_route: HeaderRoute | None = Field(
        default=None, description="Send matching requests (testers, a cookie) to the preview."
    )
