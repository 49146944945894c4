"""The hosts harness itself (harness/hosts.py): a LAN of namespaces with a private PostgreSQL and
bridges to the root namespace's RabbitMQ, and the faults it makes: cuts heard as silence and
noticed by the far side's own timeouts, partitions of one path, latency on one path."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

from harness.hosts import Lan, running_lan
from harness.leftovers import leftovers
from harness.polling import wait_until
from harness.service_processes import ServiceProcess
from harness.services import AMQP_HOST, RunServices

AMQP_PORT = int(AMQP_HOST.rsplit(":", 1)[1])
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
CONNECTION_START = b"\x01\x00\x00"  # the broker's answer to the header: a method frame on channel 0
# The server finds a silent client gone in about 3 s: an idle session by keepalives (1 s idle,
# two probes 1 s apart), a session with unacknowledged bytes by tcp_user_timeout.
QUICK_TCP = (
    "tcp_keepalives_idle=1",
    "tcp_keepalives_interval=1",
    "tcp_keepalives_count=2",
    "tcp_user_timeout=3000",
)

CLIENT_SCRIPT = """
import os, psycopg2
with psycopg2.connect(os.environ["PG_CONNECTION_URI"], connect_timeout=5) as conn, conn.cursor() as cur:
    cur.execute("SELECT host(inet_client_addr()), host(inet_server_addr())")
    print("client %s server %s" % cur.fetchone())
"""
AMQP_SCRIPT = """
import os, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URI"]))
print("product", connection._impl.server_properties["product"])
connection.close()
"""


def ended(process: ServiceProcess, timeout: float = 20) -> str:
    """Wait for `process` to exit 0; return its log."""
    assert process.proc is not None
    assert process.proc.wait(timeout=timeout) == 0, process.logs()
    return process.logs()


def amqp_round_trip(lan: Lan, host: str, timeout: float = 5) -> tuple[bytes, float]:
    """From `host`: send the AMQP protocol header to 127.0.0.1:5672; the reply's first bytes and the seconds it took."""
    sock = lan.call_in(host, lambda: socket.create_connection(("127.0.0.1", AMQP_PORT), timeout=timeout))
    with sock:
        started = time.monotonic()
        sock.sendall(AMQP_HEADER)
        reply = sock.recv(64)
        return reply[:3], time.monotonic() - started


def pg_connect(lan: Lan, host: str, dsn: str) -> psycopg2.extensions.connection:
    """A connection opened from `host` (its socket in the host's namespace), in autocommit."""
    conn = lan.call_in(host, lambda: psycopg2.connect(dsn))
    conn.autocommit = True
    return conn


def answers(lan: Lan, host: str) -> bool:
    """Whether a new connection from `host` to the database over the LAN answers a query."""
    conn = pg_connect(lan, host, lan.pg_dsn(host, connect_timeout=3))
    try:
        return one(conn, "SELECT 1") == 1
    finally:
        conn.close()


def one(conn: psycopg2.extensions.connection, query: str) -> object:
    """The single value `query` returns."""
    with conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    assert row is not None
    return row[0]


def in_background(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Start `call` in a thread; its result or its error lands in the list."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_a_host_reaches_the_private_database_over_the_lan_and_the_root_namespace_by_its_socket(
    lan: Lan,
) -> None:
    db = lan.add_database()
    worker = lan.add_host("worker")
    env = {"PG_CONNECTION_URI": lan.pg_dsn(worker)}
    client = lan.run(worker, [sys.executable, "-c", CLIENT_SCRIPT], env, name="pg-client")
    assert f"client {worker.address} server {db.address}" in ended(client)
    with psycopg2.connect(db.socket_dsn(), connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT inet_client_addr()")  # NULL: by the Unix socket
        assert cur.fetchone() == (None,)
    conn.close()


def test_a_host_reaches_the_root_rabbitmq_through_its_bridge(lan: Lan, services: RunServices) -> None:
    lan.add_host("worker")
    lan.bridge("worker", "amqp", AMQP_PORT)
    env = {"AMQP_URI": services.amqp_uri}
    client = lan.run("worker", [sys.executable, "-c", AMQP_SCRIPT], env, name="amqp-client")
    assert "product RabbitMQ" in ended(client)


def test_a_cut_host_hears_silence_and_the_database_drops_its_session_by_its_own_timeouts(lan: Lan) -> None:
    db = lan.add_database(options=QUICK_TCP)
    lan.add_host("worker")
    lan.bridge("worker", "amqp", AMQP_PORT)
    # The client's own limit, so that its blocked query ends by itself once the test is done.
    conn = pg_connect(lan, "worker", lan.pg_dsn("worker", connect_timeout=3, tcp_user_timeout=5000))
    backend = one(conn, "SELECT pg_backend_pid()")
    root = psycopg2.connect(db.socket_dsn())
    root.autocommit = True

    lan.cut("worker")
    cut_at = time.monotonic()
    # Made after the cut: the bridge accepts it and reaches RabbitMQ only at the restore, so
    # RabbitMQ's handshake timeout (10 s from the connection's start) cannot end it first.
    amqp = lan.call_in("worker", lambda: socket.create_connection(("127.0.0.1", AMQP_PORT), timeout=5))
    query, outcome = in_background(lambda: one(conn, "SELECT 1"))
    amqp.sendall(AMQP_HEADER)
    query.join(timeout=3)
    assert query.is_alive(), f"not silence: {outcome}"  # neither answer nor error for 3 s
    assert outcome == []
    amqp.setblocking(False)
    with pytest.raises(BlockingIOError):  # the bridge too: no reply, and neither EOF nor reset
        amqp.recv(64)

    wait_until(
        lambda: one(root, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {backend}") == 0,
        timeout=15,
        message="the server dropped the silent session",
    )
    dropped_after = time.monotonic() - cut_at
    print(f"\nserver dropped the cut session after {dropped_after:.1f} s")
    # By the keepalive probes and the user timeout (1 s idle, 2 probes 1 s apart, 3 s), not
    # by a reset, which would end it at once.
    assert 1.5 <= dropped_after < 8

    lan.restore("worker")
    amqp.settimeout(5)
    assert amqp.recv(64)[:3] == CONNECTION_START  # the header held while cut, delivered now
    amqp.close()
    query.join(timeout=15)
    assert not query.is_alive()
    assert isinstance(outcome[0], psycopg2.OperationalError)
    print(f"the cut client gave up after {time.monotonic() - cut_at:.1f} s: {str(outcome[0]).strip()}")
    conn.close()
    assert answers(lan, "worker")
    root.close()


def test_a_partition_from_the_database_leaves_the_bridged_rabbitmq_and_the_other_way_round(lan: Lan) -> None:
    lan.add_database()
    for name in ("a", "b"):
        lan.add_host(name)
        lan.bridge(name, "amqp", AMQP_PORT)

    lan.partition("a", "db")
    started = time.monotonic()
    with pytest.raises(psycopg2.OperationalError, match="timeout expired"):  # unanswered, not refused
        lan.call_in("a", lambda: psycopg2.connect(lan.pg_dsn("a", connect_timeout=2)))
    assert time.monotonic() - started >= 1.5
    assert amqp_round_trip(lan, "a")[0] == CONNECTION_START
    assert answers(lan, "b")
    lan.restore("a", "db")
    assert answers(lan, "a")

    lan.partition("a", "amqp")
    silent = lan.call_in("a", lambda: socket.create_connection(("127.0.0.1", AMQP_PORT), timeout=1.5))
    with silent:
        silent.sendall(AMQP_HEADER)
        with pytest.raises(TimeoutError):
            silent.recv(64)
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):  # still open: neither EOF nor reset
            silent.recv(64)
    assert answers(lan, "a")
    assert amqp_round_trip(lan, "b")[0] == CONNECTION_START
    lan.restore("a")
    assert amqp_round_trip(lan, "a")[0] == CONNECTION_START


def test_latency_adds_the_delay_each_way_to_a_round_trip_through_a_bridge_or_the_database_line(
    lan: Lan,
) -> None:
    lan.add_database()
    lan.add_host("worker")
    lan.bridge("worker", "amqp", AMQP_PORT)
    _, plain = amqp_round_trip(lan, "worker")

    lan.latency("worker", "amqp", 150)
    _, slowed = amqp_round_trip(lan, "worker")
    print(f"\nAMQP header round trip: {plain * 1000:.1f} ms plain, {slowed * 1000:.1f} ms at 150 ms")
    assert slowed >= 0.3

    conn = pg_connect(lan, "worker", lan.pg_dsn("worker", delayable=True, connect_timeout=3))
    lan.latency("worker", "db", 100)
    started = time.monotonic()
    assert one(conn, "SELECT 1") == 1
    took = time.monotonic() - started
    print(f"SELECT 1 through the database line at 100 ms: {took * 1000:.1f} ms")
    assert took >= 0.2
    conn.close()


def test_teardown_leaves_nothing_even_when_the_test_fails(tmp_path: Path) -> None:
    made: list[str] = []
    held: list[psycopg2.extensions.connection] = []

    def failing_test() -> None:
        with running_lan(tmp_path) as lan:
            made.append(lan.run_id)
            lan.add_database()
            lan.add_host("worker")
            lan.bridge("worker", "amqp", AMQP_PORT)
            lan.run("worker", ["sleep", "60"], {}, name="sleeper")
            held.append(pg_connect(lan, "worker", lan.pg_dsn("worker", delayable=True)))
            lan.cut("worker")
            # Namespaces, postgres and its children, the bridges' thread, the sleeper, the files.
            assert len(leftovers(lan.run_id)) > 5
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        failing_test()
    assert leftovers(made[0]) == []
    held[0].close()
