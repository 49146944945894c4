"""The database steps of processing a photo: lock, claim, complete, fail, and find the stranded.

Who may work on a photo is decided by a PostgreSQL session advisory lock keyed by the photo's
UUID, held for the whole time a worker processes it:

- two live workers can never process one photo at once (the second cannot take the lock);
- a worker that dies loses its database session, and the lock with it, at once: the message
  RabbitMQ redelivers finds the photo in 'processing', takes the lock and claims it again;
- status changes happen only under the lock, so a late failure of a duplicate message can
  never overwrite the work of the worker that holds the photo.

The lock lives in the session, so PG_CONNECTION_URI must not point at a transaction-mode pooler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from uuid import UUID

from peewee import Database

from models import COMPLETED, FAILED, PENDING, PROCESSING

CLAIMABLE = (PENDING, PROCESSING, FAILED)
# The expression that takes a session advisory lock without waiting: true when taken.
TRY_LOCK = "pg_try_advisory_lock(%s)"


def lock_key(photo_id: UUID) -> int:
    """The advisory lock key of a photo: its first 64 bits as a signed bigint."""
    return int.from_bytes(photo_id.bytes[:8], "big", signed=True)


@contextmanager
def advisory_lock(db: Database, key: int) -> Iterator[bool]:
    """Hold the advisory lock `key` for the block; yields False when another session holds it."""
    acquired = bool(db.execute_sql(f"SELECT {TRY_LOCK}", (key,)).fetchone()[0])
    with _released(db, key, acquired):
        yield acquired


def photo_lock(db: Database, photo_id: UUID) -> contextlib.AbstractContextManager[bool]:
    """Hold the photo's advisory lock for the block; yields False when another session holds it."""
    return advisory_lock(db, lock_key(photo_id))


@contextmanager
def _released(db: Database, key: int, held: bool) -> Iterator[None]:
    """Release the lock `key` at the end of the block, if this session holds it."""
    try:
        yield
    finally:
        if held:
            _unlock(db, key)


def _unlock(db: Database, key: int) -> None:
    try:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))
    except Exception:
        # The session is broken (the database went away): the lock went with it. Closing the
        # driver's connection keeps the pool from reusing a session that may still hold the
        # lock. Not db.close(): it would drop the connection context the caller is still in,
        # whose exit then raises IndexError in place of the database error (no retry).
        with suppress(Exception):
            if not db.is_closed():
                db.connection().close()


@dataclass(frozen=True)
class Claim:
    """What claiming a photo found: whether this session holds the photo, and its URL if claimed."""

    locked: bool  # False: another live worker holds the photo
    url: str | None  # None: completed already, or no such photo


@contextmanager
def claimed(db: Database, photo_id: UUID) -> Iterator[Claim]:
    """Take the photo's lock and claim it, in one round trip; hold the lock for the block.

    Claiming marks the photo 'processing' (pending, failed, or processing with nobody holding
    its lock: its last worker died, or it waits for a retry of its own message). The UPDATE
    reads the lock's result, so it runs only once the lock is held.
    """
    key = lock_key(photo_id)
    locked, url = db.execute_sql(
        f"WITH lock AS MATERIALIZED (SELECT {TRY_LOCK} AS held),"
        " claimed AS ("
        "   UPDATE photos SET status = %s, claimed_at = now(), attempts = attempts + 1"
        "   WHERE uuid = %s AND status = ANY(%s::photo_status[]) AND (SELECT held FROM lock)"
        "   RETURNING url)"
        " SELECT (SELECT held FROM lock), (SELECT url FROM claimed)",
        (key, PROCESSING, str(photo_id), list(CLAIMABLE)),
    ).fetchone()
    with _released(db, key, bool(locked)):
        yield Claim(locked=bool(locked), url=url)


def complete(db: Database, photo_id: UUID, *, relpath: str, width: int, height: int) -> None:
    """Record the thumbnail and set the photo 'completed': one statement, so one transaction."""
    db.execute_sql(
        "WITH thumbnail AS ("
        "   INSERT INTO photo_thumbnails (photo_uuid, width, height, url) VALUES (%s, %s, %s, %s)"
        "   ON CONFLICT (photo_uuid) DO UPDATE"
        "   SET width = EXCLUDED.width, height = EXCLUDED.height, url = EXCLUDED.url"
        "   RETURNING photo_uuid)"
        " UPDATE photos SET status = %s, failure_reason = NULL"
        " WHERE uuid = (SELECT photo_uuid FROM thumbnail)",
        (str(photo_id), width, height, relpath, COMPLETED),
    )


def mark_failed(db: Database, photo_id: UUID, reason: str) -> bool:
    """Set a photo 'failed' with its reason, unless it completed; return whether it changed."""
    cursor = db.execute_sql(
        "UPDATE photos SET status = %s, failure_reason = %s WHERE uuid = %s AND status <> %s",
        (FAILED, reason[:2000], str(photo_id), COMPLETED),
    )
    return bool(cursor.rowcount)


def stranded(db: Database, *, lease_s: int, limit: int = 1000) -> list[UUID]:
    """Photos in 'processing' whose claim is older than the lease and whose lock nobody holds.

    pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits).
    """
    rows = db.execute_sql(
        "SELECT p.uuid FROM photos p"
        " WHERE p.status = %s AND p.claimed_at < now() - make_interval(secs => %s)"
        " AND NOT EXISTS ("
        "   SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1"
        "   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        "   AND ((l.classid::bigint << 32) | l.objid::bigint)"
        "       = ('x' || substr(replace(p.uuid::text, '-', ''), 1, 16))::bit(64)::bigint)"
        " ORDER BY p.claimed_at LIMIT %s",
        (PROCESSING, lease_s, limit),
    ).fetchall()
    return [UUID(str(row[0])) for row in rows]
