"""A request to process photos, in the database: a fresh budget of attempts before its messages
go, and the record of when they went (photos.queued_at). The worker's side of the budget, what
it spends per attempt, is pipeline/claims.py."""

from __future__ import annotations

from collections.abc import Sequence

from peewee import Database

from models import FAILED, PENDING
from pipeline.uuid_array import UuidArray


def start_request(db: Database, photo_ids: Sequence[str]) -> None:
    """A new request to process these photos: those pending or failed get a fresh budget.

    Rows whose budget is already fresh are left as they are (a new photo, the common case, costs
    no write).
    """
    db.execute_sql(
        f"UPDATE photos SET {FRESH_BUDGET} WHERE {BY_KEY}"
        f" AND status = ANY(%s::photo_status[]) AND {NOT_FRESH}",
        (UuidArray(photo_ids), [PENDING, FAILED]),
    )


def mark_sent(db: Database, photo_ids: Sequence[str]) -> None:
    """Record that a message for each photo was just sent to the broker (photos.queued_at)."""
    db.execute_sql(f"UPDATE photos SET queued_at = now() WHERE {BY_KEY}", (UuidArray(photo_ids),))


def unmark_sent(db: Database, photo_ids: Sequence[str]) -> None:
    """Forget the message of each photo: marked sent, and then not confirmed by the broker."""
    db.execute_sql(f"UPDATE photos SET queued_at = NULL WHERE {BY_KEY}", (UuidArray(photo_ids),))


# What a new request resets (the attempt budget), and the rows it would change.
FRESH_BUDGET = "attempts = 0, crashes = 0, spared = 0"
NOT_FRESH = "(attempts, crashes, spared) <> (0, 0, 0)"
# Rows by a list of photo ids, looked up by key whatever the list's length and the table's size.
# The ids as a relation to join instead (`unnest(%s::uuid[])`, a constant the planner counts)
# made it hash a scan of the whole table for 1000 ids in 100,000 rows (58 ms against 11); an
# array it cannot see into (ARRAY(SELECT ...)) keeps it on photos_pkey.
BY_KEY = "photos.uuid = ANY(ARRAY(SELECT unnest(%s)))"  # %s: a UuidArray
