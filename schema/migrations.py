"""Apply the numbered SQL files of this folder in order, each once, each in its own transaction.

Applied files are recorded in `schema_migrations`. Every file is also written to be harmless on
a database that already has what it creates, so a database made by the original setup (photos
with rows, no record table) upgrades in place without losing a row. A session advisory lock
serialises concurrent migrators (the web and the worker may start together).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import ISOLATION_LEVEL_AUTOCOMMIT, connection

SCHEMA_DIR = Path(__file__).resolve().parent
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant will do, as long as nothing else in the database uses it.
MIGRATION_LOCK_KEY = 0x70686F746F  # "photo"

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Migration:
    """One numbered SQL file."""

    version: str
    path: Path

    def sql(self) -> str:
        """The file's SQL."""
        return self.path.read_text(encoding="utf-8")


def available_migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    """The migration files of `directory`, in order; a gap or a duplicate number is an error."""
    found = sorted(
        Migration(match.group(1), path)
        for path in directory.iterdir()
        if (match := MIGRATION_NAME.match(path.name))
    )
    for position, migration in enumerate(found, start=1):
        if int(migration.version) != position:
            raise RuntimeError(f"migrations must be numbered 0001, 0002, …; found {migration.path.name}")
    return found


def migrate(options: dict[str, Any]) -> list[str]:
    """Bring the database to the current schema; return the versions applied now."""
    applied_now = []
    with _connect(options) as conn, _migration_lock(conn):
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
        for migration in available_migrations():
            if migration.version in done:
                continue
            with conn, conn.cursor() as cur:
                cur.execute(migration.sql())
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,))
            log.info("Applied schema migration %s.", migration.path.name)
            applied_now.append(migration.version)
    return applied_now


def drop_schema(options: dict[str, Any]) -> None:
    """Drop every table, type and function the migrations create (`make db-schema` resets)."""
    with _connect(options) as conn, _migration_lock(conn), conn, conn.cursor() as cur:
        cur.execute(
            "DROP TABLE IF EXISTS photo_thumbnails, photos, schema_migrations CASCADE;"
            "DROP TYPE IF EXISTS photo_status CASCADE;"
            "DROP FUNCTION IF EXISTS photos_touch_updated_at() CASCADE;"
        )


def ensure_database(options: dict[str, Any]) -> bool:
    """Create the configured database when it does not exist; return whether it was created."""
    name = options["database"]
    admin = {**options, "database": "postgres"}
    with _connect(admin) as conn:
        conn.set_isolation_level(ISOLATION_LEVEL_AUTOCOMMIT)
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log.info("Created database %r.", name)
    return True


@contextmanager
def _connect(options: dict[str, Any]) -> Iterator[connection]:
    """A psycopg2 connection that is closed on exit (psycopg2's own `with` only ends a transaction)."""
    conn = psycopg2.connect(**{"connect_timeout": 5, **options})
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def _migration_lock(conn: connection) -> Iterator[None]:
    """Hold the migration advisory lock for the block (a second migrator waits here)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    conn.commit()
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        conn.commit()
