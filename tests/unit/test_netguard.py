"""The address policy on its own: which addresses a download may connect to, and the checked connect."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import SourceRefused
from pipeline.netguard import AddressGuard, refusal, unwrap

# (address, refusal by default, refusal with allow_private)
TABLE = [
    ("8.8.8.8", None, None),
    ("1.1.1.1", None, None),
    ("2606:4700:4700::1111", None, None),
    ("::ffff:8.8.8.8", None, None),
    ("64:ff9b::808:808", None, None),  # NAT64 of a public address
    ("2002:808:808::1", None, None),  # 6to4 of a public address
    ("127.0.0.1", "loopback", None),
    ("127.255.255.254", "loopback", None),
    ("::1", "loopback", None),
    ("::ffff:127.0.0.1", "loopback", None),
    ("::127.0.0.1", "loopback", None),  # IPv4-compatible
    ("2002:7f00:1::", "loopback", None),  # 6to4
    ("64:ff9b::7f00:1", "loopback", None),  # NAT64
    ("10.1.2.3", "private", None),
    ("172.16.0.1", "private", None),
    ("172.31.255.255", "private", None),
    ("192.168.1.1", "private", None),
    ("::ffff:10.0.0.1", "private", None),
    ("fc00::1", "private", None),
    ("fd12:3456::1", "private", None),
    ("100.64.0.1", "private", None),  # CGNAT
    ("100.127.255.254", "private", None),
    ("169.254.169.254", "link-local", "link-local"),  # cloud metadata
    ("::ffff:169.254.169.254", "link-local", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local", "link-local"),
    ("fe80::1", "link-local", "link-local"),
    ("224.0.0.1", "multicast", "multicast"),
    ("239.255.255.250", "multicast", "multicast"),
    ("ff02::1", "multicast", "multicast"),
    ("0.0.0.0", "unspecified", "unspecified"),
    ("0.1.2.3", "unspecified", "unspecified"),  # "this network": Linux connects it locally
    ("::", "unspecified", "unspecified"),
    ("::ffff:0.0.0.0", "unspecified", "unspecified"),
    ("240.0.0.1", "reserved", "reserved"),
    ("255.255.255.255", "reserved", "reserved"),
    ("64:ff9b:1::1", "reserved", "reserved"),  # local-use NAT64
    ("fec0::1", "site-local", "site-local"),
    ("192.0.2.1", "not globally routable", "not globally routable"),  # documentation
    ("198.18.0.1", "not globally routable", "not globally routable"),  # benchmarking
    ("2001:db8::1", "not globally routable", "not globally routable"),
    ("2001::1", "not globally routable", "not globally routable"),  # Teredo
]


@pytest.mark.parametrize(("address", "default", "with_private"), TABLE)
def test_the_policy_refuses_each_kind_of_non_global_address(
    address: str, default: str | None, with_private: str | None
) -> None:
    """By default only global addresses pass; allow_private opens loopback and private ranges only."""
    ip = ipaddress.ip_address(address)
    assert refusal(ip, allow_private=False) == default
    assert refusal(ip, allow_private=True) == with_private


@given(st.integers(min_value=0, max_value=2**32 - 1), st.booleans())
def test_an_ipv4_mapped_address_is_judged_as_the_ipv4_address_inside(number: int, allow: bool) -> None:
    """::ffff:a.b.c.d gets exactly the verdict of a.b.c.d, whatever a.b.c.d is."""
    v4 = ipaddress.IPv4Address(number)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    assert unwrap(mapped) == v4
    assert refusal(mapped, allow_private=allow) == refusal(v4, allow_private=allow)


def test_the_refusal_message_names_the_address_and_its_kind() -> None:
    """The stored failure reason tells an operator which address was refused and why."""
    with pytest.raises(SourceRefused, match=r"^address 169\.254\.169\.254 is link-local and refused$"):
        AddressGuard(allow_private=True).check(ipaddress.ip_address("169.254.169.254"))
    with pytest.raises(
        SourceRefused, match=r"::ffff:(7f00:1|127\.0\.0\.1) \(IPv4 127\.0\.0\.1\) is loopback"
    ):
        AddressGuard().check(ipaddress.ip_address("::ffff:127.0.0.1"))


def _answers(*addresses: str) -> Any:
    """A resolver returning `addresses`, recording each call."""
    calls: list[str] = []

    def resolve(host: str, port: int, family: int = 0, kind: int = 0) -> list[tuple[Any, ...]]:
        calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_a_name_with_any_refused_address_is_refused_before_a_socket_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A public answer next to a private one does not let the private one through."""

    def no_socket(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a socket was created for a refused name")

    monkeypatch.setattr(socket, "socket", no_socket)
    resolver = _answers("8.8.8.8", "10.0.0.5")
    with pytest.raises(SourceRefused, match=r"10\.0\.0\.5 is private"):
        AddressGuard(resolver=resolver).connect("mixed.example", 80, 1.0, ())
    assert resolver.calls == ["mixed.example"]


def test_the_socket_connects_to_the_address_that_was_checked() -> None:
    """The guard connects to what the resolver answered and was checked, not to a new lookup."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        resolver = _answers("127.0.0.1")
        port = listener.getsockname()[1]
        with AddressGuard(allow_private=True, resolver=resolver).connect(
            "photos.example", port, 1.0, ()
        ) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)
        assert resolver.calls == ["photos.example"]
    finally:
        listener.close()


def test_a_name_that_resolves_to_nothing_raises_an_os_error() -> None:
    """An empty answer is a network failure (transient), not a crash."""
    with pytest.raises(OSError, match="resolved to no address"):
        AddressGuard(resolver=_answers()).connect("empty.example", 80, 1.0, ())
