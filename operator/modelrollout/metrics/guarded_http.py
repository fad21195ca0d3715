"""An HTTP session that connects only where the allow-list lets it, trusts exactly the
CA it is given, and takes nothing from the environment.

The address is checked after the socket connected (its peer), not only when the spec
was read: a name may resolve elsewhere by then. No proxies and no .netrc from the
environment (`trust_env` off): a proxy would hide the address reached, and .netrc
would add credentials nobody asked for.
"""

from __future__ import annotations

import ssl
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from modelrollout.metrics.endpoints import EndpointPolicy, EndpointRefused, peer_address


def guarded_session(
    policy: EndpointPolicy, verify: bool = True, ca_pem: str | None = None
) -> requests.Session:
    """`ca_pem`: trust this CA (PEM) alone instead of the system's."""
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    adapter = _GuardedAdapter(policy, _context(ca_pem) if ca_pem and verify else None)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context()  # verifies the peer and its host name
    context.load_verify_locations(cadata=ca_pem)  # an ssl.SSLError names a bad PEM
    return context


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: EndpointPolicy, context: ssl.SSLContext | None) -> None:
        self.policy, self.context = policy, context
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _pool(HTTPConnectionPool, HTTPConnection, self.policy),
            "https": _pool(HTTPSConnectionPool, HTTPSConnection, self.policy),
        }

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        if self.context is not None:
            pool["ssl_context"] = self.context
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if self.context is not None:  # the given CA alone, not the system bundle besides
            conn.ca_certs = conn.ca_cert_dir = None


def _pool(
    pool: type[HTTPConnectionPool], base: type[HTTPConnection], policy: EndpointPolicy
) -> type[HTTPConnectionPool]:
    """`pool` whose connections close and refuse a peer the policy refuses."""

    class Guarded(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> Any:
            sock = super()._new_conn()
            address = peer_address(sock)
            why = policy.address_refusal(address)
            if why is not None:
                sock.close()
                raise EndpointRefused(f"the connection reached {address}, which {why}")
            return sock

    return type("GuardedPool", (pool,), {"ConnectionCls": Guarded})
