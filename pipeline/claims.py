"""The database steps of processing a photo: claim, end an attempt, fail (pipeline/completion.py
completes it).

Who may work on a photo is decided by its advisory lock (`pipeline.locks`), held for the whole
time a worker processes it:

- two live workers can never process one photo at once (the second cannot take the lock);
- a worker that dies loses its database session, and the lock with it: the message RabbitMQ
  redelivers finds the photo in 'processing', takes the lock and claims it again;
- status changes happen only under the lock, so a late failure of a duplicate message can
  never overwrite the work of the worker that holds the photo.

What one request to process a photo may cost is counted here too, in the claim statement, so it
holds across processes and machines: at most `max_attempts` attempts that ended with an error
or a thumbnail, and at most `max_crashes` that ended with no outcome at all (the worker died).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from peewee import Database

from models import COMPLETED, FAILED, PENDING, PROCESSING
from pipeline.locks import TRY_LOCK, discard_session, lock_key, released

CLAIMABLE = (PENDING, PROCESSING, FAILED)
CRASHED = (
    "crashed: the worker stopped %s times while processing this photo, with no outcome"
    " (killed, out of memory, or a crash in a decoder)"
)
EXHAUSTED = "retries_exhausted: no attempt left for this request to process"


@dataclass(frozen=True)
class Claim:
    """What claiming a photo found: whether this session holds the photo, and what to do."""

    locked: bool  # False: another live worker holds the photo
    url: str | None  # set: claimed, process it. None: done already, gone, or failed just now
    # No such photo (deleted): a worker that lost its session may have left a file of it behind.
    gone: bool = False
    failed_code: str | None = None  # set when the claim itself failed the photo: crashed, exhausted
    failed_reason: str | None = None
    # No attempt began before this one: no thumbnail of the photo can be in the store yet.
    first: bool = False


_CLAIM = f"""
WITH lock AS MATERIALIZED (SELECT {TRY_LOCK} AS held),
found AS (
    SELECT uuid, status, attempts,
           -- Never claimed, and no thumbnail row (a photo completed before claims were
           -- recorded, then set back to pending by hand, has one).
           claimed_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM photo_thumbnails t WHERE t.photo_uuid = photos.uuid) AS first,
           crashes + (attempt_open AND NOT %s)::int AS crashes,
           spared + (attempt_open AND %s)::int AS spared
    FROM photos
    WHERE uuid = %s AND status = ANY(%s::photo_status[]) AND (SELECT held FROM lock)
    FOR UPDATE
),
verdict AS (
    SELECT uuid, crashes, spared, first, CASE
        WHEN status = %s AND attempts > 0 THEN 'spent'
        WHEN crashes < %s AND attempts - crashes - spared < %s THEN 'claimed'
        WHEN crashes >= %s THEN 'crashed'
        ELSE 'retries_exhausted' END AS verdict
    FROM found
),
updated AS (
    UPDATE photos p SET
        crashes = v.crashes,
        spared = v.spared,
        attempt_open = v.verdict = 'claimed',
        attempts = p.attempts + (v.verdict = 'claimed')::int,
        claimed_at = CASE WHEN v.verdict = 'claimed' THEN now() ELSE p.claimed_at END,
        status = (CASE WHEN v.verdict = 'claimed' THEN %s ELSE %s END)::photo_status,
        failure_reason = CASE v.verdict
            WHEN 'claimed' THEN p.failure_reason
            WHEN 'crashed' THEN format(%s, v.crashes)
            ELSE coalesce(p.failure_reason, %s) END
    FROM verdict v
    WHERE p.uuid = v.uuid AND v.verdict <> 'spent'
    RETURNING v.verdict, p.url, p.failure_reason, v.first
)
SELECT (SELECT held FROM lock), verdict, url, failure_reason, first FROM (SELECT 1) one LEFT JOIN updated ON true
"""


@contextmanager
def claimed(
    db: Database, photo_id: UUID, *, max_attempts: int, max_crashes: int, after_outage: bool = False
) -> Iterator[Claim]:
    """Take the photo's lock and claim it, in one round trip; hold the lock for the block.

    Claiming marks the photo 'processing' (pending; failed, when a new request reset its count;
    or processing with nobody holding its lock: its last worker died, or it waits for a retry of
    its own message) and opens an attempt. An attempt still open from before crashed, unless
    the message says it ended in an outage of ours (`after_outage`: the database went away
    before it could be closed). With no attempt left, or too many crashes, the claim fails the
    photo instead; a copy of a message for a photo that failed since changes nothing. The
    UPDATE reads the lock's result, so it runs only once the lock is held.
    """
    key = lock_key(photo_id)
    try:
        locked, verdict, url, reason, first = db.execute_sql(
            _CLAIM,
            # In the order of the statement's placeholders.
            (
                key,
                after_outage,
                after_outage,
                str(photo_id),
                list(CLAIMABLE),
                FAILED,
                max_crashes,
                max_attempts,
                max_crashes,
                PROCESSING,
                FAILED,
                CRASHED,
                EXHAUSTED,
            ),
        ).fetchone()
    except Exception:
        # The lock may have been taken before the statement failed (a timeout): a session-level
        # lock outlives the rollback, so this session must not go back to the pool.
        discard_session(db)
        raise
    with released(db, key, bool(locked)):
        if verdict == "claimed":
            yield Claim(locked=True, url=url, first=bool(first))
        elif verdict:
            yield Claim(locked=True, url=None, failed_code=verdict, failed_reason=reason)
        elif locked:
            # Done already, or deleted: the lock held, no delete can come between.
            yield Claim(locked=True, url=None, gone=not exists(db, photo_id))
        else:
            yield Claim(locked=False, url=None)


def exists(db: Database, photo_id: UUID) -> bool:
    """Whether the photo has a row; stable while this session holds the photo's lock, since a
    delete takes it too (`pipeline.deletion`)."""
    return bool(
        db.execute_sql("SELECT EXISTS (SELECT 1 FROM photos WHERE uuid = %s)", (str(photo_id),)).fetchone()[0]
    )


def rendition_relpaths(db: Database, photo_id: UUID) -> list[str]:
    """The objects the photo's rows name now."""
    rows = db.execute_sql(
        "SELECT url FROM photo_thumbnails WHERE photo_uuid = %s", (str(photo_id),)
    ).fetchall()
    return [row[0] for row in rows]


def end_attempt(db: Database, photo_id: UUID, reason: str, *, retried: bool, counted: bool) -> None:
    """Close the open attempt of a photo whose processing raised, keeping the error as its reason.

    A retry will come (`retried`): that is a message sent now, which the reconciler's lease
    counts from. An attempt that tried nothing of the source (our storage was down, or our own
    stop cut the download) is not `counted` against the budget: it is `spared`. The photo stays
    'processing' until the retry, or the failure hook.
    """
    db.execute_sql(
        "UPDATE photos SET attempt_open = false, failure_reason = %s,"
        " spared = spared + CASE WHEN %s THEN 0 ELSE 1 END,"
        " queued_at = CASE WHEN %s THEN now() ELSE queued_at END"
        " WHERE uuid = %s AND status = %s",
        (reason[:2000], counted, retried, str(photo_id), PROCESSING),
    )


def mark_failed(db: Database, photo_id: UUID, reason: str) -> bool:
    """Set a photo 'failed' with its reason, unless it completed; return whether it changed."""
    cursor = db.execute_sql(
        "UPDATE photos SET status = %s, failure_reason = %s, attempt_open = false"
        " WHERE uuid = %s AND status <> %s",
        (FAILED, reason[:2000], str(photo_id), COMPLETED),
    )
    return bool(cursor.rowcount)
