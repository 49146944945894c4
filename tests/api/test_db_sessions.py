"""Database sessions notice a vanished peer within DB_DEAD_PEER_S, on both ends of the link.

A worker whose machine vanishes without closing its connection keeps its session, and the
advisory locks of the photos it held, until the server notices; the server's keepalive
settings (sent by the client as session settings) bound that to DB_DEAD_PEER_S.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg2

from config import Config
from models import connect_options


def _session_settings(config: Config, *names: str) -> list[str]:
    conn = psycopg2.connect(**connect_options(config))
    try:
        with conn.cursor() as cur:
            values = []
            for name in names:
                cur.execute(f"SHOW {name}")
                values.append(cur.fetchone()[0])
            return values
    finally:
        conn.close()


def test_the_server_drops_a_silent_worker_session_within_db_dead_peer_s(config: Config) -> None:
    idle, interval, count, user_timeout = _session_settings(
        replace(config, db_dead_peer_s=40),
        "tcp_keepalives_idle",
        "tcp_keepalives_interval",
        "tcp_keepalives_count",
        "tcp_user_timeout",
    )
    # Idle, then `count` probes `interval` apart: 20 + 3 x 6 s, within the 40 s asked for.
    assert (idle, interval, count, user_timeout) == ("20", "6", "3", "40000")


def test_the_client_side_gets_keepalives_and_a_user_timeout_too(config: Config) -> None:
    options = connect_options(replace(config, db_dead_peer_s=40))
    assert options["keepalives"] == 1
    assert options["keepalives_idle"] + options["keepalives_interval"] * options["keepalives_count"] <= 40
    assert options["tcp_user_timeout"] == 40_000


def test_the_statement_timeout_is_still_set_and_the_urls_own_options_win(config: Config) -> None:
    [timeout] = _session_settings(replace(config, db_statement_timeout_ms=1234), "statement_timeout")
    assert timeout == "1234ms"
    own = replace(
        config, pg_connection_uri=config.pg_connection_uri + "?options=-c%20statement_timeout%3D777"
    )
    [timeout] = _session_settings(own, "statement_timeout")
    assert timeout == "777ms"
