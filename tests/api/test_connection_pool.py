"""The connection pool skips its liveness round trip only for a connection checked in just now."""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import psycopg2
import pytest

import connection_pool
from config import Config
from connection_pool import PooledDatabase
from models import connect_options


@pytest.fixture
def pool(config: Config) -> Iterator[PooledDatabase]:
    database = PooledDatabase(None)
    database.init(**connect_options(config), max_connections=2)
    yield database
    database.close_all()


@pytest.fixture
def observer(config: Config) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(**connect_options(config))
    conn.autocommit = True
    yield conn
    conn.close()


def _last_statement(observer: psycopg2.extensions.connection, pid: int) -> str:
    with observer.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
        return str(cursor.fetchone()[0])


def _use(pool: PooledDatabase, marker: str) -> int:
    """Check a connection out, run a marked statement, check it back in; its backend's pid."""
    pool.connect()
    pid = int(pool.execute_sql(f"SELECT pg_backend_pid() AS {marker}").fetchone()[0])
    pool.close()
    return pid


def test_a_connection_checked_in_just_now_goes_out_again_without_a_ping(
    pool: PooledDatabase, observer: psycopg2.extensions.connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_pool, "ALIVE_BYPASS_S", 3600.0)
    pid = _use(pool, "first_use")
    pool.connect()
    assert pool.connection().get_backend_pid() == pid
    # The backend's last statement is still ours: no `SELECT 1` went out at checkout.
    assert "first_use" in _last_statement(observer, pid)
    pool.close()


def test_a_connection_idle_past_the_window_is_pinged_and_replaced_when_dead(
    pool: PooledDatabase, observer: psycopg2.extensions.connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_pool, "ALIVE_BYPASS_S", 0.0)
    pid = _use(pool, "first_use")
    pool.connect()
    assert _last_statement(observer, pid) == "SELECT 1"  # the ping
    pool.close()
    with observer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))  # waits for the end

    other = _use(pool, "second_use")  # the dead one was noticed and a new one opened

    assert other != pid


def test_a_connection_that_died_within_the_window_fails_one_request_then_is_dropped(
    pool: PooledDatabase, observer: psycopg2.extensions.connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_pool, "ALIVE_BYPASS_S", 3600.0)
    pid = _use(pool, "first_use")
    with observer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))  # waits for the end

    pool.connect()
    with pytest.raises((peewee.OperationalError, peewee.InterfaceError)):
        pool.execute_sql("SELECT 1").fetchone()
    pool.close()

    assert _use(pool, "after") != pid


def test_reserve_grows_the_pool_to_what_a_process_needs_and_never_shrinks_it(pool: PooledDatabase) -> None:
    assert pool.max_connections == 2
    pool.reserve(35)  # e.g. 33 photo threads, the housekeeping thread and the webhook dispatcher
    assert pool.max_connections == 35
    pool.reserve(3)
    assert pool.max_connections == 35


def test_reserve_leaves_a_pool_without_a_limit_without_one(config: Config) -> None:
    unlimited = PooledDatabase(None)
    unlimited.init(**connect_options(config), max_connections=0)  # 0: peewee sets no limit
    unlimited.reserve(35)
    assert unlimited.max_connections == 0  # still none
