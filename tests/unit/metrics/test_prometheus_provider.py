"""The Prometheus provider's credentials (bound to the URLs their Secret names), its TLS
(a private CA, and that CA alone), and failure reporting."""

from __future__ import annotations

import base64
import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelrollout.api.spec import PrometheusSource
from modelrollout.metrics.credentials import Credentials
from modelrollout.metrics.endpoints import EndpointPolicy
from modelrollout.metrics.prometheus import PrometheusProvider
from modelrollout.metrics.provider import ProviderConfigError, ProviderError
from testenv.fake_prometheus import vector
from testenv.pki import CertificateAuthority

URL = "https://p:9090"
LOOPBACK = EndpointPolicy.parse(["127.0.0.0/8"])


def secret(**keys: str | bytes) -> dict[str, str]:
    """A Secret's data as the API serves it (base64)."""
    raw = {k: v.encode() if isinstance(v, str) else v for k, v in keys.items()}
    return {k: base64.b64encode(v).decode() for k, v in raw.items()}


def test_bearer_token_goes_in_the_authorization_header() -> None:
    creds = Credentials.from_secret(secret(urls=URL, token="s3cret"))
    provider = PrometheusProvider(PrometheusSource(url=URL + "/"), creds)
    assert provider.session.headers["Authorization"] == "Bearer s3cret"
    assert provider.url == URL


def test_basic_auth_from_username_and_password() -> None:
    creds = Credentials.from_secret(secret(urls=URL, username="u", password="pw"))
    provider = PrometheusProvider(PrometheusSource(url=URL), creds)
    assert provider.session.auth == ("u", "pw")


def test_credentials_never_show_in_reprs() -> None:
    creds = Credentials(frozenset([URL]), token="s3cret", username="u", password="pw")
    assert "s3cret" not in repr(creds)
    assert "pw" not in repr(creds)


@pytest.mark.parametrize(
    ("urls", "url", "allowed"),
    [
        (URL, URL, True),
        (URL + "/", URL, True),
        ("HTTPS://P:9090", URL, True),
        (f"https://q:9090\n{URL}  https://r", URL, True),
        (URL, "https://p:9091", False),
        (URL, "https://p:9090/prefix", False),
        ("https://p:9090/prefix", "https://p:9090/prefix/", True),
        (URL, "https://evil.example", False),
    ],
)
def test_credentials_go_only_to_the_urls_their_secret_names(
    urls: str, url: str, allowed: bool
) -> None:
    creds = Credentials.from_secret(secret(urls=urls, token="t"))
    if allowed:
        PrometheusProvider(PrometheusSource(url=url), creds).close()
    else:
        with pytest.raises(ProviderConfigError, match="do not include"):
            PrometheusProvider(PrometheusSource(url=url), creds)


def test_credentials_never_go_over_plain_http_or_unverified_tls() -> None:
    plain = Credentials.from_secret(secret(urls="http://p:9090", token="t"))
    with pytest.raises(ProviderConfigError, match="only over verified https"):
        PrometheusProvider(PrometheusSource.model_construct(url="http://p:9090"), plain)
    creds = Credentials.from_secret(secret(urls=URL, token="t"))
    unverified = PrometheusSource.model_construct(url=URL, insecure_skip_verify=True)
    with pytest.raises(ProviderConfigError, match="only over verified https"):
        PrometheusProvider(unverified, creds)


def test_the_spec_refuses_credentials_without_verified_https() -> None:
    ref = {"name": "creds"}
    with pytest.raises(ValueError, match="authSecretRef needs an https url"):
        PrometheusSource.model_validate({"url": "http://p", "authSecretRef": ref})
    with pytest.raises(ValueError, match="authSecretRef needs an https url"):
        PrometheusSource.model_validate(
            {"url": URL, "authSecretRef": ref, "insecureSkipVerify": True}
        )


@pytest.mark.parametrize(
    "url",
    ["http://u:pw@p:9090", "http://p:9090/#", "http://p:9090?x=1", "http://p /x", "http://p\n"],
)
def test_the_url_carries_no_credentials_query_or_fragment(url: str) -> None:
    with pytest.raises(ValueError, match="should match pattern"):
        PrometheusSource(url=url)


def test_credentials_read_only_known_keys_and_name_a_bad_key_not_its_value() -> None:
    data = secret(urls=URL, token="t", other=b"\xff\xfe binary")
    assert Credentials.from_secret(data).token == "t"  # `other` is never decoded
    with pytest.raises(ProviderConfigError) as raised:
        Credentials.from_secret(secret(urls=URL, token=b"\xff\xfe s3cret"))
    assert str(raised.value) == "its key `token` is not UTF-8 text"
    with pytest.raises(ProviderConfigError, match="neither `token` nor"):
        Credentials.from_secret(secret(urls=URL, tokn="t"))
    with pytest.raises(ProviderConfigError, match="no `urls`"):
        Credentials.from_secret(secret(token="t"))
    basic = Credentials.from_secret(secret(urls=URL, username="u", password="p"))
    assert (basic.username, basic.password) == ("u", "p")


def test_timeout_comes_from_the_spec() -> None:
    assert PrometheusProvider(PrometheusSource(url="http://p", timeout="1500ms")).timeout == 1.5


def test_unreachable_prometheus_is_a_provider_error() -> None:
    # Port 9 on loopback (discard) is closed here: the connection is refused at once.
    source = PrometheusSource(url="http://127.0.0.1:9", timeout="1s")
    with pytest.raises(ProviderError, match="unreachable"):
        PrometheusProvider(source, policy=LOOPBACK).value("up")


def test_a_connection_the_allow_list_refuses_is_closed_before_a_request() -> None:
    """Checked on the address the socket reached: the default list refuses loopback."""
    with https_server(None) as (url, queries):
        plain = url.replace("https://", "http://")
        with pytest.raises(ProviderError, match=r"reached 127\.0\.0\.1, which is a loopback"):
            PrometheusProvider(PrometheusSource(url=plain, timeout="2s")).value("up")
        assert queries == []


# -- TLS with a private CA --------------------------------------------------------------


@contextlib.contextmanager
def https_server(ca: CertificateAuthority | None) -> Iterator[tuple[str, list[str]]]:
    """A Prometheus-shaped server on 127.0.0.1, with TLS from `ca` (None: plain http)."""
    queries: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            queries.append(self.path)
            body = vector("0.5").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if ca is not None:
        pair = ca.issue("prometheus", "prometheus", server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pair.cert, pair.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", queries
    finally:
        server.shutdown()
        server.server_close()


def test_a_private_ca_verifies_prometheus_and_carries_the_token(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    with https_server(ca) as (url, queries):
        creds = Credentials.from_secret(secret(urls=url, token="t"))
        source = PrometheusSource(url=url, timeout="5s")
        pem = ca.cert_path.read_text()
        provider = PrometheusProvider(source, creds, LOOPBACK, ca_pem=pem)
        assert provider.value("up") == 0.5
        assert len(queries) == 1
        # Without the CA, the system's roots do not know this server.
        with pytest.raises(ProviderError, match="TLS to Prometheus"):
            PrometheusProvider(source, creds, LOOPBACK).value("up")
        # Another private CA is not trusted in its place.
        other = CertificateAuthority(tmp_path / "other").cert_path.read_text()
        with pytest.raises(ProviderError, match="TLS to Prometheus"):
            PrometheusProvider(source, creds, LOOPBACK, ca_pem=other).value("up")
        assert len(queries) == 1


def test_a_ca_that_is_no_certificate_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="the CA is not a PEM certificate"):
        PrometheusProvider(PrometheusSource(url=URL), ca_pem="not a certificate")
