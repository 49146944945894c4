"""KEEP_ORIGINALS: each photo's source in the store under its content hash, which re-rendering
reads instead of downloading again (the source may be gone, or slow, or rate-limited).

One object per distinct source, named by photos.content_sha256: photos with the same bytes
share it. So a delete removes it only once no photo has that hash (`drop_unless_named`), and
keeping one and dropping one are serialised by an advisory lock on the hash: a worker keeping
an original for a photo it just completed, and a delete of the last other photo with those
bytes, cannot interleave so that the one removes what the other just kept.

The worker keeps the original after the photo's row names its hash, never before: a worker
that dies between leaves a photo without its original (a re-render downloads it then), never
an object no row names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from peewee import Database

from pipeline.errors import StorageError
from pipeline.storage import SHA256_HEX, ThumbnailStore

log = logging.getLogger(__name__)


def hash_lock_key(sha256: str) -> int:
    """The advisory lock key of a content hash: its first 64 bits, signed as PostgreSQL's bigint."""
    key = int(sha256[:16], 16)
    return key - (1 << 64) if key >= 1 << 63 else key


@contextmanager
def hash_locked(db: Database, sha256: str) -> Iterator[None]:
    """Hold the hash's advisory lock (waiting for it) for the block, on this connection."""
    key = hash_lock_key(sha256)
    db.execute_sql("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))


def keep(db: Database, store: ThumbnailStore, photo_id: UUID, sha256: str, data: bytes) -> bool:
    """Store the completed photo's source under its hash and record it; False (logged) when the
    store refused it: the photo is completed all the same, and a re-render downloads it."""
    try:
        with hash_locked(db, sha256):
            store.keep_original(sha256, data)
            db.execute_sql(
                "UPDATE photos SET original_kept = true WHERE uuid = %s AND content_sha256 = %s",
                (str(photo_id), sha256),
            )
    except (StorageError, OSError) as error:
        log.warning("Could not keep the original of %s: %s", photo_id, error)
        return False
    return True


def source_of(db: Database, photo_id: UUID) -> str | None:
    """The hash of the photo's kept original, or None when none is kept."""
    row = db.execute_sql(
        "SELECT content_sha256 FROM photos WHERE uuid = %s AND original_kept", (str(photo_id),)
    ).fetchone()
    return str(row[0]) if row and row[0] else None


def drop_unless_named(db: Database, store: ThumbnailStore, sha256: str) -> None:
    """Remove the original of these bytes unless a photo still has them. StorageError or
    OSError when the store fails (the caller keeps the removal recorded)."""
    if not SHA256_HEX.fullmatch(sha256):
        return
    with hash_locked(db, sha256):
        (named,) = db.execute_sql(
            "SELECT EXISTS (SELECT 1 FROM photos WHERE content_sha256 = %s)", (sha256,)
        ).fetchone()
        if not named:
            store.drop_original(sha256)
