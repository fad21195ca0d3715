"""Which addresses the operator may query for metrics: the operator-wide allow-list.

A ModelDeployment names any URL it likes, and the operator queries it from inside the
cluster: without a rule, any tenant could reach the node's cloud metadata or the
operator's own loopback through it. So, operator-wide (`--prometheus-allow`, the
chart's `prometheusAllow`):

- with no entries, any address except the special ones below;
- with entries (host names, CIDRs), only a listed host name or addresses in a listed
  CIDR; every address a name resolves to must be allowed.

Loopback, link-local (cloud metadata lives there) and unspecified addresses are refused
unless an entry names the host, or is a CIDR within that special range itself: a broad
`0.0.0.0/0` does not open them by accident.

Checked twice: on the spec's URL before a provider is made (InvalidSpec naming the
rule), and on the address each connection reached (guarded_http.py), so a name that
resolves differently later (DNS rebinding) is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SPECIAL: tuple[tuple[str, Network], ...] = (
    ("loopback", ipaddress.ip_network("127.0.0.0/8")),
    ("loopback", ipaddress.ip_network("::1/128")),
    ("link-local", ipaddress.ip_network("169.254.0.0/16")),
    ("link-local", ipaddress.ip_network("fe80::/10")),
    ("unspecified", ipaddress.ip_network("0.0.0.0/8")),
    ("unspecified", ipaddress.ip_network("::/128")),
)
FLAG = "--prometheus-allow"


class EndpointRefused(Exception):
    """The allow-list refuses an address; the message says which rule."""


@dataclass(frozen=True)
class EndpointPolicy:
    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EndpointPolicy:
        """Entries are host names or CIDRs (a bare address is a one-address CIDR), one
        per item or comma-separated. ValueError names an entry that is neither."""
        names: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for item in entries for e in item.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=True))
                continue
            except ValueError as exc:
                if _looks_numeric(entry):
                    raise ValueError(f"{FLAG} {entry!r}: {exc}") from None
            if not _HOST_NAME.issuperset(entry.lower()) or entry.startswith((".", "-")):
                raise ValueError(f"{FLAG} {entry!r} is neither a host name nor a CIDR")
            names.add(_name(entry))
        return cls(frozenset(names), tuple(networks))

    @property
    def listing(self) -> bool:
        return bool(self.names or self.networks)

    def refusal(self, host: str, addresses: Sequence[Address]) -> str | None:
        """Why `host`, resolved to `addresses`, may not be queried; None when it may."""
        if _name(host) in self.names:
            return None
        for address in addresses:
            why = self.address_refusal(address)
            if why is not None:
                shown = "" if str(address) == host else f" resolves to {address}, which"
                return f"{host}{shown} {why}"
        return None

    def address_refusal(self, address: Address) -> str | None:
        address = _unmapped(address)
        for kind, special in SPECIAL:
            if address in special:
                if any(address in n and _within(n, special) for n in self.networks):
                    return None
                return f"is a {kind} address, refused unless {FLAG} lists it"
        if self.listing and not any(address in n for n in self.networks):
            return f"is not in the operator's allow-list ({FLAG})"
        return None


OPEN = EndpointPolicy()  # no list: anything but loopback, link-local and unspecified


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (an address literal: itself); [] when the name
    does not resolve now (the query then fails as unreachable, and says so)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def peer_address(sock: socket.socket) -> Address:
    return _unmapped(ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0]))


_HOST_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


def _name(host: str) -> str:
    return host.lower().rstrip(".")


def _looks_numeric(entry: str) -> bool:
    return ":" in entry or "/" in entry or entry.replace(".", "").isdigit()


def _unmapped(address: Address) -> Address:
    """::ffff:127.0.0.1 is 127.0.0.1."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(network: Network, special: Network) -> bool:
    return network.version == special.version and network.subnet_of(special)  # type: ignore[arg-type]
