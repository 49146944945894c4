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

# The queries that write drop_schema's DROP statements (format's %I quotes each name). Each kind
# is read after the one before it is dropped, so CASCADE has taken its dependents already:
# relations first (their indexes, constraints, triggers and owned sequences go with them), then
# routines, then the types left (enums, domains, ranges, standalone composites; array types go
# with their element type). `{where}` keeps them to the schema the migrations' unqualified names
# land in (`public` unless search_path says otherwise), leaving out what is part of another
# object and goes with it (an extension's members, a range type's constructors).
_DROP_QUERIES = (
    """SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE x.relkind WHEN 'v' THEN 'VIEW'
                     WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, x.relname)
         FROM pg_class x JOIN pg_namespace n ON n.oid = x.relnamespace
        WHERE x.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {where}""",
    """SELECT format('DROP ROUTINE IF EXISTS %I.%I(%s) CASCADE', n.nspname, x.proname,
                     pg_get_function_identity_arguments(x.oid))
         FROM pg_proc x JOIN pg_namespace n ON n.oid = x.pronamespace
        WHERE {where}""",
    """SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', n.nspname, x.typname)
         FROM pg_type x JOIN pg_namespace n ON n.oid = x.typnamespace
        WHERE x.typtype IN ('c', 'd', 'e', 'r') AND {where}""",
)
# (A partitioned table depends internally on its own key columns: that one is not "another".)
_DROP_WHERE = """n.nspname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_depend d
                 WHERE d.classid = x.tableoid AND d.objid = x.oid AND d.deptype IN ('e', 'i')
                   AND (d.refclassid, d.refobjid) <> (x.tableoid, x.oid))"""


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
    """Drop every relation, routine and type in the schema the migrations create in (`make db-schema`)."""
    # The objects are read from the catalogs, so a new migration needs no edit here. The schema
    # itself stays: recreating it would lose its owner and grants (pg_database_owner, and USAGE
    # for PUBLIC, since PostgreSQL 15), and dropping it takes rights the tables' owner may lack.
    with _connect(options) as conn, _migration_lock(conn), conn, conn.cursor() as cur:
        for query in _DROP_QUERIES:
            cur.execute(query.format(where=_DROP_WHERE))
            for (statement,) in cur.fetchall():
                cur.execute(statement)


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
