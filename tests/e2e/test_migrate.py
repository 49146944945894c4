"""`make db-migrate` on a database made by the original setup, with rows in it; `make db-schema` and
the drop_schema it runs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import psycopg2
import pytest

from harness import services as test_services
from harness.service_processes import REPO
from schema import migrations
from tests.support.data import KEPT_AND_COUNTED

# The original setup's schema, as the seed's database had it.
ORIGINAL_SCHEMA = """
CREATE TYPE photo_status AS ENUM ('pending', 'completed');
CREATE TABLE photos (
    uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url text NOT NULL,
    status photo_status NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO photos (url, status) VALUES
    ('https://example.com/a.jpg', 'pending'),
    ('https://example.com/b.jpg', 'completed'),
    ('https://example.com/c.jpg', 'pending');
"""


@pytest.fixture
def original_database() -> Iterator[str]:
    """A database of its own, made by the original setup's schema, with three photos."""
    made = test_services.RunServices(database=f"pp_orig_{os.getpid()}", vhost="unused")
    test_services.admin_sql(
        psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(made.database))
    )
    try:
        with psycopg2.connect(made.pg_uri) as conn, conn.cursor() as cur:
            cur.execute(ORIGINAL_SCHEMA)
        yield made.pg_uri
    finally:
        test_services.admin_sql(
            psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg2.sql.Identifier(made.database)
            )
        )


def _make(target: str, pg_uri: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PG_CONNECTION_URI": pg_uri}
    env.pop("MAKEFLAGS", None)
    return subprocess.run(
        ["make", "-s", target], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def _query(pg_uri: str, statement: str) -> list[tuple]:
    with psycopg2.connect(pg_uri) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall()


def test_make_db_migrate_upgrades_the_original_schema_keeping_every_row_and_is_idempotent(
    original_database: str,
) -> None:
    before = _query(original_database, "SELECT uuid, url, status::text, created_at FROM photos ORDER BY url")

    first = _make("db-migrate", original_database)
    assert first.returncode == 0, first.stderr
    second = _make("db-migrate", original_database)
    assert second.returncode == 0, second.stderr
    assert "0 migration(s) applied now" in second.stdout

    after = _query(original_database, "SELECT uuid, url, status::text, created_at FROM photos ORDER BY url")
    assert after == before
    assert _counts_agree(original_database), "photo_counts filled from the rows"
    statuses = _query(original_database, "SELECT unnest(enum_range(NULL::photo_status))::text")
    assert [status for (status,) in statuses] == ["pending", "processing", "completed", "failed"]
    columns = _query(
        original_database,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_name = 'photo_thumbnails' ORDER BY ordinal_position",
    )
    assert columns == [
        ("uuid", "uuid", "NO"),
        ("photo_uuid", "uuid", "NO"),
        ("width", "smallint", "NO"),
        ("height", "smallint", "NO"),
        ("url", "text", "NO"),
        ("created_at", "timestamp with time zone", "NO"),
        ("preset", "text", "NO"),
        ("format", "text", "NO"),
        ("bytes", "integer", "YES"),
        ("digest", "text", "YES"),
    ]
    # The new statuses are usable, and the thumbnails table takes rows with a generated uuid.
    _query(
        original_database,
        "UPDATE photos SET status = 'failed' WHERE url LIKE '%a.jpg' RETURNING uuid",
    )
    _query(
        original_database,
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, url)"
        " SELECT uuid, 'thumb', 'jpeg', 320, 240, 'x.jpg' FROM photos WHERE url LIKE '%b.jpg' RETURNING uuid",
    )
    assert _counts_agree(original_database), "and kept by the triggers"


def test_make_db_schema_resets_to_the_current_schema_with_demo_photos(original_database: str) -> None:
    result = _make("db-schema", original_database)
    assert result.returncode == 0, result.stderr
    rows = _query(original_database, "SELECT url, status::text FROM photos")
    assert rows, "demo photos are loaded"
    assert all(status == "pending" for _, status in rows)
    assert all("/demo/" in url for url, _ in rows)
    assert not any(url.endswith(("a.jpg", "b.jpg", "c.jpg")) for url, _ in rows)
    assert _counts_agree(original_database), "the counts start again with the photos"


def test_drop_schema_leaves_no_relation_routine_or_type_of_any_migration_and_migrate_starts_over(
    original_database: str,
) -> None:
    options = {"dsn": original_database}
    migrations.migrate(options)
    migrations.drop_schema(options)

    left = _query(
        original_database,
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        " UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace",
    )
    assert left == []
    assert migrations.migrate(options) == [m.version for m in migrations.available_migrations()]


def _counts_agree(pg_uri: str) -> bool:
    """Whether the counts the triggers keep are count(*) by status, and there are some."""
    [(kept, counted)] = _query(pg_uri, KEPT_AND_COUNTED)
    return bool(counted) and kept == counted
