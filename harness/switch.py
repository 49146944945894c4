"""The LAN of the hosts harness: a switch in a namespace of its own, and hosts plugged into it.

`pp<id>-lan` holds one Linux bridge, the switch. Each host is a namespace `pp<id>-<name>` joined
to it by a veth pair: the host end (10.<a>.<b>.<n>/24) inside the host, the other end (its
switch port) inside the LAN namespace, enslaved to the bridge. The pair is made inside the LAN
namespace with its peer put straight into the host, so no end is ever in the root namespace
and nothing of a test can be routed there.

Neighbour (ARP) entries are static and permanent from the start: with a port down, ARP would
fail after a while and turn silence into "no route to host", which a vanished machine on a real
LAN only gives to new connections, late. Static entries also make a partition of one pair
possible without a firewall: point each end's entry for the other at a MAC nobody has, and
their frames go into the switch and are lost there, for that pair only.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import netns

NOWHERE_MAC = "02:00:00:00:00:00"  # no interface has it: frames sent to it die in the switch


@dataclass(frozen=True)
class Host:
    """One machine of the LAN: its namespace, address and switch port."""

    name: str
    ns: str
    address: str
    mac: str
    switch_port: str  # the veth end inside the LAN namespace


class Switch:
    """The LAN namespace, its bridge and the hosts plugged into it, named after run `run_id`."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.prefix = f"pp{run_id}"
        self.ns = f"{self.prefix}-lan"
        seed = int(run_id[:4], 16)
        self.net = f"10.{100 + seed % 100}.{(seed >> 8) % 256}"  # varied by run, for reading logs
        self.subnet = f"{self.net}.0/24"
        self.hosts: dict[str, Host] = {}
        self._bridge = f"b{run_id}"
        self._nic = f"e{run_id}"  # the host end's name, the same in every host namespace

    def up(self) -> None:
        """Make the LAN namespace and its bridge."""
        netns.add(self.ns)
        netns.ip("-n", self.ns, "link", "add", self._bridge, "type", "bridge")
        netns.ip("-n", self.ns, "link", "set", self._bridge, "up")

    def plug(self, name: str) -> Host:
        """A new host namespace `pp<id>-<name>`, cabled to the switch, known to every other host."""
        if name in self.hosts or name == "lan":
            raise ValueError(f"host name {name!r} already taken")
        n = len(self.hosts) + 1
        host = Host(
            name=name,
            ns=f"{self.prefix}-{name}",
            address=f"{self.net}.{n}",
            mac=f"02:70:70:{n >> 8:02x}:{n & 255:02x}:01",
            switch_port=f"p{self.run_id}n{n}",  # at most 15 characters, as Linux wants
        )
        netns.add(host.ns)
        netns.ip(
            "-n", self.ns, "link", "add", host.switch_port, "type", "veth",
            "peer", "name", self._nic, "netns", host.ns,
        )  # fmt: skip
        netns.ip("-n", self.ns, "link", "set", host.switch_port, "master", self._bridge, "up")
        netns.ip("-n", host.ns, "link", "set", self._nic, "address", host.mac)
        netns.ip("-n", host.ns, "addr", "add", f"{host.address}/24", "dev", self._nic)
        netns.ip("-n", host.ns, "link", "set", self._nic, "up")
        for other in self.hosts.values():
            self._neighbour(other, host, host.mac)
            self._neighbour(host, other, other.mac)
        self.hosts[name] = host
        return host

    def set_port(self, host: Host, up: bool) -> None:
        """Bring `host`'s switch port up or down (down: both ends keep their interfaces up)."""
        netns.ip("-n", self.ns, "link", "set", host.switch_port, "up" if up else "down")

    def split(self, a: Host, b: Host) -> None:
        """Lose every frame between `a` and `b`, both ways; nobody else is touched."""
        self._neighbour(a, b, NOWHERE_MAC)
        self._neighbour(b, a, NOWHERE_MAC)

    def join(self, a: Host, b: Host) -> None:
        """Undo `split(a, b)`."""
        self._neighbour(a, b, b.mac)
        self._neighbour(b, a, a.mac)

    def remove(self) -> list[str]:
        """Delete every host namespace and the LAN's (their interfaces go with them); the errors."""
        errors = []
        for ns in [host.ns for host in self.hosts.values()] + [self.ns]:
            if ns in netns.names():
                try:
                    netns.remove(ns)
                except netns.NetnsError as error:
                    errors.append(str(error))
        return errors

    def _neighbour(self, on: Host, of: Host, mac: str) -> None:
        """On host `on`, a permanent neighbour entry: `of`'s address is at `mac`."""
        netns.ip(
            "-n", on.ns, "neigh", "replace", of.address, "lladdr", mac, "dev", self._nic, "nud", "permanent"
        )
