"""PostgreSQL session advisory locks: who may work on a photo, and one reconciler pass at a time.

A session advisory lock lives as long as the database session that took it: a worker that dies,
or whose machine vanishes (see DB_DEAD_PEER_S), loses its session and the lock with it. So
PG_CONNECTION_URI must not point at a transaction-mode pooler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from uuid import UUID

from peewee import Database

# The expression that takes a session advisory lock without waiting: true when taken.
TRY_LOCK = "pg_try_advisory_lock(%s)"
# The same key as `lock_key`, computed in SQL from a photo's uuid column `p.uuid`.
SQL_LOCK_KEY = (
    "(('x' || substr(replace(p.uuid::text, '-', ''), 1, 16))::bit(64)"
    " # ('x' || substr(replace(p.uuid::text, '-', ''), 17, 16))::bit(64))::bigint"
)


def lock_key(photo_id: UUID) -> int:
    """The advisory lock key of a photo: its two 64-bit halves XORed, as a signed bigint.

    Both halves: the first alone is mostly a timestamp in a UUIDv7, so photos created in the
    same millisecond would share a lock.
    """
    value = int.from_bytes(photo_id.bytes[:8], "big") ^ int.from_bytes(photo_id.bytes[8:], "big")
    return value - (1 << 64) if value >= 1 << 63 else value


@contextmanager
def advisory_lock(db: Database, key: int) -> Iterator[bool]:
    """Hold the advisory lock `key` for the block; yields False when another session holds it."""
    acquired = bool(db.execute_sql(f"SELECT {TRY_LOCK}", (key,)).fetchone()[0])
    with released(db, key, acquired):
        yield acquired


def photo_lock(db: Database, photo_id: UUID) -> contextlib.AbstractContextManager[bool]:
    """Hold the photo's advisory lock for the block; yields False when another session holds it."""
    return advisory_lock(db, lock_key(photo_id))


@contextmanager
def released(db: Database, key: int, held: bool) -> Iterator[None]:
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
        # The session is broken (the database went away): the lock went with it.
        discard_session(db)


def discard_session(db: Database) -> None:
    """Close the driver's connection, so that the pool never reuses a session that may still
    hold a lock. Not db.close(): it would drop the connection context the caller is still in,
    whose exit then raises IndexError in place of the database error (no retry)."""
    with suppress(Exception):
        if not db.is_closed():
            db.connection().close()
