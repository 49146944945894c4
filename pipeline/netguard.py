"""Which addresses a download may connect to, checked on the socket actually opened.

The host is resolved once, each address checked, and the socket connected to a checked one, so
DNS rebinding cannot slip past. TLS still verifies the certificate against the URL's host name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from urllib3.util.connection import allowed_gai_family

from pipeline.errors import SourceRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int, int, int], Sequence[tuple[Any, ...]]]  # socket.getaddrinfo

# Ranges `allow_private` opens (RFC 1918, CGNAT, ULA: local development, tests); the other
# non-global ranges stay refused, because link-local holds the cloud metadata service.
_PRIVATE_NETS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
_PRIVATE = [ipaddress.ip_network(net) for net in _PRIVATE_NETS]
# Linux connects 0.0.0.0/8 to the local host, so it counts as unspecified, not merely "private".
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address embedded in an IPv4-mapped, -compatible, 6to4 or NAT64 address, else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if embedded := address.ipv4_mapped or address.sixtofour:
        return embedded
    # :: and ::1 are in ::/96 too but are IPv6 addresses of their own.
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not be connected to (a kind such as "loopback"), or None if it may."""
    ip = unwrap(address)
    # Checked before is_global: Python 3.11 calls multicast and fec0::/10 addresses global.
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_loopback:
        return None if allow_private else "loopback"
    if any(ip in network for network in _PRIVATE):
        return None if allow_private else "private"
    if ip.is_reserved:
        return "reserved"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    return None if ip.is_global else "not globally routable"


@dataclass(frozen=True)
class AddressGuard:
    """The address policy and the checked connect; tests may override `check` or `resolver`."""

    allow_private: bool = False
    resolver: Resolver = socket.getaddrinfo

    def check(self, address: IPAddress) -> None:
        """Raise SourceRefused unless `address` may be connected to."""
        reason = refusal(address, allow_private=self.allow_private)
        if reason is not None:
            inner = unwrap(address)
            shown = str(address) if inner == address else f"{address} (IPv4 {inner})"
            raise SourceRefused(f"address {shown} is {reason} and refused")

    def connect(self, host: str, port: int, timeout: float | None, options: Sequence[Any]) -> socket.socket:
        """Resolve `host` once, refuse it if any address is refused, connect to a checked address."""
        infos = self.resolver(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
        # All are checked before any is tried: a name mixing public and private answers is refused.
        for info in infos:
            self.check(ipaddress.ip_address(info[4][0]))
        error: OSError = OSError(f"{host} resolved to no address")
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                for option in options:
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
            else:
                return sock
        raise error
