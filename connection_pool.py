"""The database's connection pool: peewee's, without a round trip per checkout when it is idle.

Peewee's pool asks PostgreSQL `SELECT 1` whenever it hands out a connection, so that one the
server dropped (a restart, an idle timeout) is never used. That round trip is as long as the
query of a small request: it was half the database time of GET /photos/pending. A connection
given back to the pool a moment ago, idle and not closed, was alive then; HikariCP skips the
same check for connections used within the last 500 ms (`aliveBypassWindowMs`), and so do we.
A connection that died within that window fails its request (503), as one in use would have.
"""

from __future__ import annotations

import time
from typing import Any

from playhouse.pool import PooledPostgresqlDatabase
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

# A connection checked in less than this long ago is handed out without a ping.
ALIVE_BYPASS_S = 0.5


class PooledDatabase(PooledPostgresqlDatabase):
    """PooledPostgresqlDatabase that trusts a connection checked in within ALIVE_BYPASS_S."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked_in_at: dict[int, float] = {}

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        super()._close(conn, close_conn)
        if close_conn or conn.closed:
            self._checked_in_at.pop(id(conn), None)
        else:
            self._checked_in_at[id(conn)] = time.monotonic()

    def _is_closed(self, conn: Any) -> bool:
        checked_in_at = self._checked_in_at.pop(id(conn), None)
        if (
            not conn.closed
            and checked_in_at is not None
            and time.monotonic() - checked_in_at < ALIVE_BYPASS_S
            and conn.info.transaction_status == TRANSACTION_STATUS_IDLE
        ):
            return False
        return bool(super()._is_closed(conn))

    def reserve(self, connections: int) -> None:
        """Let the pool hold at least `connections` at once (a process sizes it once it knows its threads)."""
        current: int | None = self._max_connections  # type: ignore[has-type]  # peewee is untyped
        if current:  # 0 or None: no limit, which no reservation should turn into one
            self._max_connections = max(current, connections)

    @property
    def max_connections(self) -> int:
        """How many connections the pool may hold at once."""
        current: int | None = self._max_connections
        return current or 0
