"""Credentials for a metrics provider, from the Secret named in authSecretRef, bound to
the URLs the Secret names.

The Secret, not the ModelDeployment, says where its credentials may go (`urls`): a
ModelDeployment that knows a Secret's name cannot point its token at a server of its
own, and a token never travels over plain http or unverified TLS.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from modelrollout.metrics.provider import ProviderConfigError

SECRET_KEYS = ("urls", "token", "username", "password")


@dataclass(frozen=True, repr=False)
class Credentials:
    """Never logged (repr hides them)."""

    urls: frozenset[str]
    token: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"

    @classmethod
    def from_secret(cls, data: Mapping[str, str]) -> Credentials:
        """`urls`, and `token` (bearer) or `username` and `password` (basic auth); no
        other key is read. ProviderConfigError names a key, never its value."""
        text = {key: _text(data, key) for key in SECRET_KEYS if key in data}
        if "token" not in text and "username" not in text:
            raise ProviderConfigError("it has neither `token` nor `username`/`password`")
        urls = frozenset(base_url(u) for u in (text.get("urls") or "").split())
        if not urls:
            raise ProviderConfigError(
                "it has no `urls`: the Prometheus URLs its credentials are for "
                "(whitespace-separated), so they are sent nowhere else"
            )
        return cls(urls, text.get("token"), text.get("username"), text.get("password"))

    def check_bound_to(self, url: str, insecure_skip_verify: bool) -> None:
        """ProviderConfigError unless these credentials may go to `url` as configured."""
        if base_url(url) not in self.urls:
            raise ProviderConfigError(
                f"its `urls` do not include {url}: its credentials are not sent there"
            )
        if urlsplit(url).scheme.lower() != "https" or insecure_skip_verify:
            raise ProviderConfigError(
                "credentials go only over verified https (not http, not insecureSkipVerify)"
            )


def _text(data: Mapping[str, str], key: str) -> str:
    """A Secret's key (base64, as the API serves it) as text."""
    try:
        return base64.b64decode(data[key], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ProviderConfigError(f"its key `{key}` is not UTF-8 text") from None


def base_url(url: str) -> str:
    """The form URLs are compared in: scheme and host lower case, no trailing slash."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))
