"""The operator's allow-list of metrics endpoints: IPv4, IPv6 and names as they resolve."""

from __future__ import annotations

import ipaddress

import pytest

from modelrollout.api.spec import Analysis
from modelrollout.metrics.endpoints import EndpointPolicy, resolve
from modelrollout.metrics.registry import endpoint_refusal

OPEN = EndpointPolicy()


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("address", "refused_as"),
    [
        ("10.0.0.7", None),
        ("192.0.2.1", None),
        ("2001:db8::1", None),
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address checked, not bound)
        ("::", "unspecified"),
    ],
)
def test_with_no_list_only_special_addresses_are_refused(
    address: str, refused_as: str | None
) -> None:
    why = OPEN.refusal(address, [ip(address)])
    if refused_as is None:
        assert why is None
    else:
        assert why is not None
        assert f"a {refused_as} address, refused unless --prometheus-allow lists it" in why


def test_a_listed_cidr_allows_only_its_addresses() -> None:
    policy = EndpointPolicy.parse(["10.1.0.0/16", "2001:db8::/32"])
    assert policy.refusal("10.1.2.3", [ip("10.1.2.3")]) is None
    assert policy.refusal("x", [ip("2001:db8::5")]) is None
    why = policy.refusal("10.2.0.1", [ip("10.2.0.1")])
    assert why == "10.2.0.1 is not in the operator's allow-list (--prometheus-allow)"


def test_a_broad_cidr_does_not_open_special_ranges_a_narrow_one_does() -> None:
    broad = EndpointPolicy.parse(["0.0.0.0/0", "::/0"])
    assert broad.refusal("m", [ip("169.254.169.254")]) is not None
    assert broad.refusal("l", [ip("::1")]) is not None
    narrow = EndpointPolicy.parse(["127.0.0.1", "169.254.169.254/32"])
    assert narrow.refusal("l", [ip("127.0.0.1")]) is None
    assert narrow.refusal("m", [ip("169.254.169.254")]) is None
    assert narrow.refusal("l", [ip("127.0.0.2")]) is not None


def test_every_address_a_name_resolves_to_must_be_allowed() -> None:
    policy = EndpointPolicy.parse(["10.0.0.0/8"])
    why = policy.refusal("prom.example", [ip("10.0.0.1"), ip("169.254.169.254")])
    assert why is not None
    assert why.startswith("prom.example resolves to 169.254.169.254, which is a link-local")


def test_a_listed_name_is_allowed_whatever_it_resolves_to() -> None:
    policy = EndpointPolicy.parse(["Prometheus.Monitoring.svc."])
    assert policy.refusal("prometheus.monitoring.svc", [ip("127.0.0.1")]) is None
    assert policy.refusal("other.svc", [ip("10.0.0.1")]) is not None


def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    addresses = resolve("localhost", 9090)
    assert addresses, "localhost resolves on every machine"
    why = OPEN.refusal("localhost", addresses)
    assert why is not None
    assert "localhost resolves to" in why
    assert "loopback" in why


def test_a_name_that_does_not_resolve_is_left_to_the_connection() -> None:
    assert resolve("no-such-host.invalid", 80) == []


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        (["10.0.0.1/8"], "has host bits set"),
        (["300.1.2.3"], "does not appear to be an IPv4 or IPv6"),
        (["prom_etheus"], "is neither a host name nor a CIDR"),
        (["-x"], "is neither a host name nor a CIDR"),
    ],
)
def test_bad_entries_are_refused_at_startup(entries: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        EndpointPolicy.parse(entries)


def test_entries_may_be_comma_separated() -> None:
    policy = EndpointPolicy.parse(["10.0.0.0/8, prom.svc", ""])
    assert policy.names == frozenset({"prom.svc"})
    assert len(policy.networks) == 1


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://169.254.169.254/latest", True),
        ("http://[::1]:9090", True),
        ("http://127.0.0.1:9090", True),
        ("http://localhost:9090", True),
        ("http://10.0.0.1:9090", False),
        ("http://10.0.0.1:99999", True),
    ],
)
def test_the_spec_url_is_checked_as_it_resolves(url: str, refused: bool) -> None:
    analysis = Analysis.model_validate(
        {"prometheus": {"url": url}, "metrics": [{"name": "e", "template": "errorRate", "max": 1}]}
    )
    why = endpoint_refusal(analysis, OPEN)
    assert (why is not None) == refused
    if why is not None:
        assert why.startswith("analysis.prometheus.url: ")
