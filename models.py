"""Peewee models of the two tables, and the database object they share.

The database is created unbound: nothing connects at import. `init_db(config)` binds it.
The schema itself is owned by the numbered SQL files in schema/, never by Peewee.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from peewee import (
    Database,
    DatabaseError,
    Field,
    ForeignKeyField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
    UUIDField,
)
from playhouse.db_url import parse as parse_db_url
from playhouse.postgres_ext import DateTimeTZField

from config import Config
from connection_pool import PooledDatabase

log = logging.getLogger(__name__)

PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
STATUSES = (PENDING, PROCESSING, COMPLETED, FAILED)

db = PooledDatabase(None)

# Unanswered keepalive probes before a connection counts as dead.
KEEPALIVE_PROBES = 3


def init_db(config: Config, *, max_connections: int = 8) -> PooledDatabase:
    """Bind the shared database object to PG_CONNECTION_URI; connections open lazily."""
    db.init(**connect_options(config), max_connections=max_connections, stale_timeout=300, timeout=10)
    return db


def connect_options(config: Config) -> dict[str, Any]:
    """psycopg2 connection options: the URL's, plus timeouts that keep an outage from hanging us.

    Keepalives and a TCP user timeout on both ends, so a silent peer is dropped after
    DB_DEAD_PEER_S: the client's settings notice a vanished server, the server's (sent as
    session settings) a vanished worker, whose session and advisory locks then end with it.
    """
    options = parse_db_url(config.pg_connection_uri)
    options.setdefault("connect_timeout", 5)
    dead_s = config.db_dead_peer_s
    idle_s = max(1, dead_s // 2)
    interval_s = max(1, (dead_s - idle_s) // KEEPALIVE_PROBES)
    client = {
        "keepalives": 1,
        "keepalives_idle": idle_s,
        "keepalives_interval": interval_s,
        "keepalives_count": KEEPALIVE_PROBES,
        "tcp_user_timeout": dead_s * 1000,
    }
    for name, value in client.items():
        options.setdefault(name, value)
    server = {
        "tcp_keepalives_idle": idle_s,
        "tcp_keepalives_interval": interval_s,
        "tcp_keepalives_count": KEEPALIVE_PROBES,
        "tcp_user_timeout": dead_s * 1000,
    }
    if config.db_statement_timeout_ms:
        server["statement_timeout"] = config.db_statement_timeout_ms
    # The URL's own options come last, so that they win.
    settings = [f"-c {name}={value}" for name, value in server.items()]
    options["options"] = " ".join([*settings, options.get("options", "")]).strip()
    return options


class PhotoStatusField(Field):
    """The PostgreSQL enum `photo_status`."""

    field_type = "photo_status"


class BaseModel(Model):
    class Meta:
        database = db


class Photo(BaseModel):
    """A source photo; `status` moves pending → processing → completed or failed."""

    uuid = UUIDField(primary_key=True)
    url = TextField()
    status = PhotoStatusField(default=PENDING)
    created_at = DateTimeTZField()
    queued_at = DateTimeTZField(null=True)
    claimed_at = DateTimeTZField(null=True)
    attempts = IntegerField(default=0)
    failure_reason = TextField(null=True)
    updated_at = DateTimeTZField()

    class Meta:
        table_name = "photos"


class PhotoThumbnail(BaseModel):
    """A rendition of a photo (one preset in one format); `url` is its path relative to the store."""

    uuid = UUIDField(primary_key=True)
    photo = ForeignKeyField(
        Photo, field=Photo.uuid, column_name="photo_uuid", object_id_name="photo_uuid", backref="thumbnails"
    )
    photo_uuid: UUID  # the foreign key's raw value, without loading the photo
    preset = TextField()
    format = TextField()  # pipeline/formats.py's names: jpeg, png, webp, avif
    width = SmallIntegerField()
    height = SmallIntegerField()
    bytes = IntegerField(null=True)  # NULL for a thumbnail made before renditions
    digest = TextField(null=True)  # sha256 of the bytes, hex; NULL likewise
    url = TextField()
    created_at = DateTimeTZField()

    class Meta:
        table_name = "photo_thumbnails"


# A read of the counts folds the deltas first when this process last did longer ago than this:
# folding keeps them few, but at every read of a busy /stats it was two thirds of the database's
# work per request (each fold writes), for deltas that a second of traffic leaves by the dozen.
FOLD_EVERY_S = 1.0


class _Every:
    """Says, at most once per `seconds` (time.monotonic()), that it is time again."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._last = -seconds

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._seconds:
            return False
        self._last = now
        return True


_fold_due = _Every(FOLD_EVERY_S)  # this process's folds at a read


def counts_by_status() -> dict[str, int]:
    """How many photos are in each status, every status present (zero included)."""
    return counts_and_clock()[0]


def counts_and_clock() -> tuple[dict[str, int], datetime]:
    """How many photos are in each status (every status present, zero included), and the
    database's clock (`now()`) as of the same snapshot: one round trip."""
    counts = dict.fromkeys(STATUSES, 0)
    # Kept by triggers in the same transactions as the photos (schema/0007): the counts as of
    # the last fold plus the deltas since, a few rows whatever the size of the table. The sum
    # is exact whether or not a fold ran: folding first only keeps the deltas few. Two threads
    # may both fold at once: the fold is one at a time (the second returns) and either is right.
    if _fold_due.due():
        fold_counts(db)
    cursor = db.execute_sql(
        "SELECT now(), status::text, sum(n)::bigint FROM"
        " (SELECT status, n FROM photo_counts UNION ALL SELECT status, n FROM photo_count_deltas) c"
        " GROUP BY status"
    )
    rows = cast(list[tuple[datetime, str, int]], cursor.fetchall())
    for _, status, count in rows:
        counts[status] = int(count)
    # No row at all only if photo_counts was emptied by hand; the clock is still asked for.
    clock = rows[0][0] if rows else cast(datetime, db.execute_sql("SELECT now()").fetchone()[0])
    return counts, clock


def fold_counts(database: Database) -> None:
    """Fold the count deltas (schema/0007), a bounded batch of them; a fold that fails (a
    timeout, a read-only session) is logged: the counts stay exact, only the deltas stay many."""
    try:
        database.execute_sql("SELECT fold_photo_counts()")
    except DatabaseError as error:
        log.warning("Could not fold the photo counts: %r", error)
