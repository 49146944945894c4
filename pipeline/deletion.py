"""Deleting a photo: its rows at once, its thumbnail file or object right after, safely.

The order keeps the store and the database in step whatever dies in between: one statement
locks the photo's row, takes its advisory lock (the one a worker holds while it processes the
photo, see `pipeline.locks`) without waiting, deletes the photo (its thumbnail row goes with it, ON DELETE
CASCADE) and records its UUID in `photo_removals`, all in one transaction. Only then is the file
removed, then the record. A row never names a missing file, and a file is never left without a
row naming it: its photo's, or its pending removal's, which `retry_removals` (the worker's
housekeeping) finishes if the API died or the store failed before the end.

A worker whose session died mid-photo (its lock with it) may write the file after a delete that
found none: the next turn of its message (retry, redelivery or failure hook) finds no row and
removes the photo's files (`Claim.gone`, `PhotoProcessor.fail`); only a message with no next
turn (dropped by the broker, or its failure hook finding the database down too) leaves that
file. A message still queued for a deleted photo does the same, and is acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal, cast
from uuid import UUID

from peewee import Database

from pipeline import originals
from pipeline.errors import StorageError
from pipeline.locks import lock_key
from pipeline.storage import ThumbnailStore

log = logging.getLogger(__name__)

Deleted = Literal["deleted", "not_found", "busy"]

# The photo's row lock first, waiting: a delete of the same photo under way holds it until it
# commits, and then this finds no row (404, not 409). Then its advisory lock, not waiting, which
# only a worker holds for long (its own statements take the row lock for a moment). The try
# never waits, so the two orders cannot deadlock.
_DELETE = """
WITH target AS MATERIALIZED (SELECT uuid FROM photos WHERE uuid = %s FOR UPDATE),
lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(%s) AS held FROM target),
gone AS (DELETE FROM photos WHERE uuid = (SELECT uuid FROM target) AND (SELECT held FROM lock)
         RETURNING uuid, content_sha256),
noted AS (INSERT INTO photo_removals (photo_uuid, original_sha256) SELECT uuid, content_sha256 FROM gone
          ON CONFLICT DO NOTHING)
SELECT (SELECT held FROM lock), EXISTS (SELECT 1 FROM gone), (SELECT content_sha256 FROM gone)
"""


def delete_photo(db: Database, store: ThumbnailStore, photo_id: UUID) -> Deleted:
    """Delete the photo and its thumbnail (see the module's docstring): "busy" when a worker
    holds it now, "not_found" when there is no such photo (or another delete of it got there
    first: the later one waits for it, then finds none). A store failing after the rows are
    gone is logged; the removal stays recorded for `retry_removals`."""
    held, deleted, sha256 = db.execute_sql(_DELETE, (str(photo_id), lock_key(photo_id))).fetchone()
    if not deleted:
        # held is None: there was no row to lock, or another delete removed it meanwhile.
        return "busy" if held is False else "not_found"
    remove_thumbnails(db, store, [(photo_id, sha256)])
    return "deleted"


def remove_thumbnails(
    db: Database, store: ThumbnailStore, removals: Iterable[tuple[UUID, str | None]]
) -> int:
    """Remove the thumbnails of deleted photos (and the original of their bytes, if no photo
    has them any more: pipeline/originals.py), then their removal records; return how many were
    done. A store that fails leaves that record for a later pass."""
    done = []
    for photo_id, sha256 in removals:
        try:
            store.remove(photo_id)
            if sha256 is not None:
                originals.drop_unless_named(db, store, sha256)
        except (StorageError, OSError) as error:
            log.warning(
                "Could not remove the thumbnails of deleted photo %s (retried later): %s", photo_id, error
            )
            continue
        done.append(str(photo_id))
    if done:
        db.execute_sql("DELETE FROM photo_removals WHERE photo_uuid = ANY(%s::uuid[])", (done,))
    return len(done)


def retry_removals(db: Database, store: ThumbnailStore, *, older_than_s: float = 60, limit: int = 100) -> int:
    """Finish the removals recorded more than `older_than_s` ago (younger ones are still in the
    hands of the request that made them); return how many were done."""
    with db.connection_context():
        rows = cast(
            Iterable[tuple[UUID, str | None]],
            db.execute_sql(
                "SELECT photo_uuid, original_sha256 FROM photo_removals"
                " WHERE created_at < now() - make_interval(secs => %s)"
                " ORDER BY created_at LIMIT %s",
                (older_than_s, limit),
            ).fetchall(),
        )
        removals = [(UUID(str(photo_id)), sha256) for photo_id, sha256 in rows]
        if not removals:
            return 0
        done = remove_thumbnails(db, store, removals)
    log.info("Removed the thumbnails of %d deleted photos left by an earlier delete.", done)
    return done
