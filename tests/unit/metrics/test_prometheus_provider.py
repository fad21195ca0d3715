"""The Prometheus provider's credentials and failure reporting, without a network."""

from __future__ import annotations

import pytest

from modelrollout.api.spec import PrometheusSource
from modelrollout.metrics.prometheus import Credentials, PrometheusProvider
from modelrollout.metrics.provider import ProviderConfigError, ProviderError


def test_bearer_token_goes_in_the_authorization_header() -> None:
    provider = PrometheusProvider(
        PrometheusSource(url="http://p:9090/"), Credentials(token="s3cret")
    )
    assert provider.session.headers["Authorization"] == "Bearer s3cret"
    assert provider.url == "http://p:9090"


def test_basic_auth_from_username_and_password() -> None:
    provider = PrometheusProvider(
        PrometheusSource(url="http://p:9090"), Credentials(username="u", password="pw")
    )
    assert provider.session.auth == ("u", "pw")


def test_credentials_never_show_in_reprs() -> None:
    creds = Credentials(token="s3cret", username="u", password="pw")
    assert "s3cret" not in repr(creds)
    assert "pw" not in repr(creds)


def test_timeout_comes_from_the_spec() -> None:
    assert PrometheusProvider(PrometheusSource(url="http://p", timeout="1500ms")).timeout == 1.5


def test_unreachable_prometheus_is_a_provider_error() -> None:
    # Port 9 on loopback (discard) is closed here: the connection is refused at once.
    provider = PrometheusProvider(PrometheusSource(url="http://127.0.0.1:9", timeout="1s"))
    with pytest.raises(ProviderError, match="unreachable"):
        provider.value("up")


def test_credentials_from_a_secret() -> None:
    assert Credentials.from_secret({"token": "t"}).token == "t"
    basic = Credentials.from_secret({"username": "u", "password": "p"})
    assert (basic.username, basic.password) == ("u", "p")
    with pytest.raises(ProviderConfigError, match="neither `token` nor"):
        Credentials.from_secret({"tokn": "t"})
