"""A private PostgreSQL 15 cluster inside a host namespace: the database host of the hosts harness.

It listens on the host's LAN address (workers in other host namespaces reach it over the LAN,
so cutting a cable is felt by TCP itself) and on a Unix socket in a directory of its own
(files are the same from every namespace, so the test process and an API in the root namespace
reach it by the socket without any route). Started for speed, not durability: fsync off,
small shared buffers. The data and socket live in a /tmp directory owned by postgres: pytest's
tmp_path sits under a 0700 directory of root's that postgres cannot enter.

The server runs as postgres through `setpriv`, which execs (runuser forks and waits), so the
process we hold is the postmaster itself: SIGINT to it is a fast shutdown, SIGKILL a crash.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg2

from harness.polling import wait_until
from harness.service_processes import ServiceProcess

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 5432
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "shared_buffers=16MB")


class PostgresProcess(ServiceProcess):
    """The postmaster: `stop()` asks for a fast shutdown first (SIGTERM would wait for every client)."""

    def stop(self, timeout: float = 20) -> int | None:
        """SIGINT (fast shutdown: clients disconnected), then the group's SIGTERM/SIGKILL."""
        if self.alive():
            self.signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                assert self.proc is not None
                self.proc.wait(timeout=timeout)
        return super().stop(timeout=5)

    def kill(self) -> None:
        """SIGKILL to the postmaster and its backends at once, as a power cut would."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class LanPostgres:
    """One cluster in `ns`, on `address`:5432 and on a socket in `root`/sock; `subnet` trusted."""

    def __init__(
        self, ns: str, address: str, subnet: str, root: Path, log_dir: Path, *, options: Sequence[str] = ()
    ) -> None:
        self.ns = ns
        self.address = address
        self.subnet = subnet
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "sock"
        self.log_dir = log_dir
        self.options = tuple(options)
        self.process: PostgresProcess | None = None

    def init(self) -> LanPostgres:
        """initdb (trust for local connections) and let the LAN subnet in; return self."""
        user = pwd.getpwnam("postgres")
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
        subprocess.run(
            [
                *("runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(self.data)),
                *("-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.subnet} trust\n")
        return self

    def start(self, timeout: float = 30) -> LanPostgres:
        """Start the postmaster inside the namespace and wait until it answers on the socket."""
        settings = (
            f"listen_addresses={self.address}",
            f"port={PORT}",
            f"unix_socket_directories={self.socket_dir}",
            *FAST,
            *self.options,
        )
        argv = ["ip", "netns", "exec", self.ns, "setpriv", "--reuid=postgres", "--regid=postgres"]
        argv += ["--init-groups", "--", str(PG_BIN / "postgres"), "-D", str(self.data)]
        for setting in settings:
            argv += ["-c", setting]
        process = PostgresProcess(f"postgres-{self.ns}", argv, {}, self.log_dir)
        self.process = process
        process.start()
        wait_until(
            lambda: self._answers() or not process.alive(), timeout=timeout, message="private postgres up"
        )
        if not process.alive():
            raise RuntimeError(f"postgres exited at start:\n{process.logs()}")
        return self

    def stop(self) -> None:
        """Fast shutdown (clients disconnected, a checkpoint written)."""
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        """SIGKILL every process of the cluster (a restart then does crash recovery)."""
        if self.process is not None:
            self.process.kill()

    def remove(self) -> None:
        """Stop it and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def lan_dsn(self, dbname: str = "postgres", **params: str | int) -> str:
        """The URL for a process in a host namespace (over the LAN); `params` go in the query."""
        query = "&".join(f"{key}={value}" for key, value in params.items())
        return f"postgresql://postgres@{self.address}:{PORT}/{dbname}" + (f"?{query}" if query else "")

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement by the socket (autocommit, a connection of its own); its rows, if any."""
        conn = psycopg2.connect(self.socket_dsn())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def socket_dsn(self, dbname: str = "postgres") -> str:
        """The URL for a process in the root namespace (the Unix socket)."""
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={PORT}"

    def _answers(self) -> bool:
        """Whether a connection by the socket works now."""
        try:
            psycopg2.connect(self.socket_dsn(), connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True
