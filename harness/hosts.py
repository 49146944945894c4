"""Hosts on a LAN, for tests that cut cables (issue 21): machines that vanish, links that split.

The parts, every name carrying the run id (`pp<id>`), so two runs never meet:
- harness/switch.py: `pp<id>-lan`, a namespace holding a Linux bridge, the switch, and one
  namespace `pp<id>-<name>` per host, cabled to it by a veth pair (no end in the root namespace).
- harness/lan_postgres.py: the database host's private PostgreSQL 15, on the LAN and a socket.
- harness/bridge.py: a host's own 127.0.0.1:<port> forwarded to a service of the root namespace
  (RabbitMQ, S3, image server, webhook receiver).
- harness/leftovers.py: what of a run is still there.

The verbs, and how each is made without netem or a firewall:
- `cut(host)`: the host's switch port goes down. Both hosts' interfaces stay up and see silence,
  neither FIN nor RST; TCP on each side finds out by its own timeouts. Its bridges go silent too.
- `partition(host, peer_or_service)`: one path only. For a LAN peer (the database host) the
  pair's frames are lost in the switch (`Switch.split`: neighbour entries at a MAC nobody has),
  other hosts untouched. For a bridged service, that line goes silent.
- `latency(host, service, ms)`: each chunk on that bridge waits `ms` in each direction. For the
  database, the host reaches it through a line in its own namespace (`pg_dsn(..., delayable=True)`)
  whose far side is a real LAN connection, so cuts and partitions still act on TCP itself.
- `restore(host[, service])`: undoes cut and partitions (or the one partition named).
- `run(host, argv, env, log_dir)`: a ServiceProcess inside the host (`ip netns exec`).
`leftovers(run_id)` (harness/leftovers.py) says what of a run is still there; the `lan` fixture
of tests/conftest.py asserts it is empty.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from harness import netns
from harness.bridge import Line, Switchboard
from harness.lan_postgres import PORT as PG_PORT
from harness.lan_postgres import LanPostgres
from harness.leftovers import RUN_MARK, TMP, files
from harness.service_processes import RUNNING, ServiceProcess
from harness.switch import Host, Switch

T = TypeVar("T")
HostRef = Host | str


class Lan:
    """The namespaces, switch, hosts, database, bridges and processes of one run."""

    def __init__(self, log_dir: Path, *, run_id: str | None = None) -> None:
        self.run_id = run_id or secrets.token_hex(3)
        self.prefix = f"pp{self.run_id}"
        self.log_dir = log_dir
        self.switch = Switch(self.run_id)
        self.hosts = self.switch.hosts  # name -> Host
        self.db: LanPostgres | None = None
        self._db_host: Host | None = None
        self._switchboard: Switchboard | None = None
        self._lines: dict[tuple[str, str], Line] = {}  # (host, service) -> bridged service line
        self._db_lines: dict[str, Line] = {}  # host -> its delayable line to the database
        self._cut: set[str] = set()
        self._partitions: set[tuple[str, str]] = set()
        self._processes: list[ServiceProcess] = []

    # --- building -------------------------------------------------------------------------

    def up(self) -> Lan:
        """Make the LAN namespace and its switch; return self."""
        self.switch.up()
        return self

    def add_host(self, name: str) -> Host:
        """A new host namespace `pp<id>-<name>` on the switch."""
        return self.switch.plug(name)

    def add_database(self, name: str = "db", *, options: Sequence[str] = ()) -> LanPostgres:
        """A host running a private PostgreSQL 15 (initdb'd, started); `options`: `-c` settings."""
        host = self.add_host(name)
        root = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-pg-", dir=TMP))
        cluster = LanPostgres(
            host.ns,
            host.address,
            self.switch.subnet,
            root,
            self.log_dir,
            options=(f"cluster_name={self.prefix}-{name}", *options),
        )
        self.db, self._db_host = cluster, host
        cluster.init().start()
        return cluster

    def bridge(self, host: HostRef, service: str, port: int) -> Line:
        """Forward `host`'s 127.0.0.1:`port` to the root namespace's 127.0.0.1:`port` as `service`."""
        found = self.host(host)
        line = self._board().open(service, found.ns, port, ("127.0.0.1", port))
        self._lines[(found.name, service)] = line
        self._refresh(found.name)
        return line

    def pg_dsn(
        self, host: HostRef, dbname: str = "postgres", *, delayable: bool = False, **params: str | int
    ) -> str:
        """The database URL for a process in `host`: the LAN address, or with `delayable` a line
        on the host's own 127.0.0.1:5432 that crosses the LAN (what `latency(host, "db")` slows)."""
        db = self._need_db()
        if not delayable:
            return db.lan_dsn(dbname, **params)
        found = self.host(host)
        if found.name not in self._db_lines:
            self._db_lines[found.name] = self._board().open(
                "db", found.ns, PG_PORT, (db.address, PG_PORT), upstream_ns=found.ns
            )
        query = "&".join(f"{key}={value}" for key, value in params.items())
        return f"postgresql://postgres@127.0.0.1:{PG_PORT}/{dbname}" + (f"?{query}" if query else "")

    def host(self, ref: HostRef) -> Host:
        """The host named `ref` (or `ref` itself)."""
        if isinstance(ref, Host):
            return ref
        try:
            return self.hosts[ref]
        except KeyError:
            raise KeyError(f"no host {ref!r} on this LAN (hosts: {sorted(self.hosts)})") from None

    # --- using ----------------------------------------------------------------------------

    def run(
        self,
        host: HostRef,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path | None = None,
        *,
        name: str = "",
    ) -> ServiceProcess:
        """Start `argv` inside `host` as a ServiceProcess (logs in `log_dir`/`name`.log); stopped at close."""
        found = self.host(host)
        process = ServiceProcess(
            name or f"{found.name}-{len(self._processes) + 1}",
            ["ip", "netns", "exec", found.ns, *argv],
            {**env, RUN_MARK: self.run_id},
            log_dir or self.log_dir,
        ).start()
        self._processes.append(process)
        RUNNING.append(process)  # its log is printed if the test fails
        return process

    def call_in(self, host: HostRef, fn: Callable[[], T]) -> T:
        """Run `fn` in a thread inside `host` (the sockets it makes belong to the host)."""
        return netns.call_in(self.host(host).ns, fn, thread_name=f"{self.prefix}-call")

    # --- faults ---------------------------------------------------------------------------

    def cut(self, host: HostRef) -> None:
        """The host vanishes: its switch port down, its bridges silent. Nothing is closed."""
        found = self.host(host)
        self.switch.set_port(found, up=False)
        self._cut.add(found.name)
        self._refresh(found.name)

    def partition(self, host: HostRef, service: str) -> None:
        """Silence one path of `host`: to a LAN peer (e.g. "db") or one bridged service."""
        found = self.host(host)
        if service in self.hosts:
            self.switch.split(found, self.hosts[service])
        elif (found.name, service) not in self._lines:
            raise KeyError(f"{found.name} has neither a LAN peer nor a bridge called {service!r}")
        self._partitions.add((found.name, service))
        self._refresh(found.name)

    def restore(self, host: HostRef, service: str | None = None) -> None:
        """Undo `cut(host)` and every partition of `host`, or only the partition to `service`."""
        found = self.host(host)
        if service is None and found.name in self._cut:
            self.switch.set_port(found, up=True)
            self._cut.discard(found.name)
        for name, peer in sorted(self._partitions):
            if name == found.name and service in (None, peer):
                if peer in self.hosts:
                    self.switch.join(found, self.hosts[peer])
                self._partitions.discard((name, peer))
        self._refresh(found.name)

    def latency(self, host: HostRef, service: str, ms: float) -> None:
        """Delay each chunk of `host`'s path to `service` by `ms` in each direction (0: none)."""
        found = self.host(host)
        if self._db_host is not None and service == self._db_host.name:
            line = self._db_lines.get(found.name)
            if line is None:
                raise KeyError(f"{found.name} has no delayable database line: pg_dsn(..., delayable=True)")
        else:
            line = self._lines[(found.name, service)]
        self._board().set_delay(line, ms / 1000)

    # --- ending ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything of the run and remove it, each step tried even if one before failed."""
        errors: list[str] = []

        def attempt(what: str, step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as error:
                errors.append(f"{what}: {error!r}")

        for process in self._processes:
            attempt(f"stop {process.name}", functools.partial(process.stop, timeout=10))
            if process in RUNNING:
                RUNNING.remove(process)
        if self.db is not None:
            attempt("remove postgres", self.db.remove)
        if self._switchboard is not None:
            attempt("close bridges", self._switchboard.close)
        errors += self.switch.remove()
        for path in files(self.prefix):
            shutil.rmtree(path, ignore_errors=True)
        if errors:
            raise RuntimeError("teardown of the LAN failed: " + "; ".join(errors))

    # --- inside ---------------------------------------------------------------------------

    def _board(self) -> Switchboard:
        if self._switchboard is None:
            self._switchboard = Switchboard(f"{self.prefix}-bridges")
        return self._switchboard

    def _need_db(self) -> LanPostgres:
        if self.db is None:
            raise RuntimeError("this LAN has no database host: add_database() first")
        return self.db

    def _refresh(self, host: str) -> None:
        """Let each bridge of `host` flow unless the host is cut or that service partitioned."""
        for (name, service), line in self._lines.items():
            if name == host:
                flowing = host not in self._cut and (host, service) not in self._partitions
                self._board().set_flowing(line, flowing)


@contextlib.contextmanager
def running_lan(log_dir: Path, *, run_id: str | None = None) -> Iterator[Lan]:
    """A LAN for the block, removed at its end whatever happened in it."""
    lan = Lan(log_dir, run_id=run_id)
    try:
        yield lan.up()
    finally:
        lan.close()
