"""The database steps of re-rendering a completed photo: claim, end an attempt, give up.

A re-render holds the photo's advisory lock like any processing (pipeline/locks.py): a worker
processing the photo, another re-render of it, or a DELETE (which tries the lock and answers
"busy") cannot come between its download and its swap. Throughout, the photo stays 'completed'
and keeps serving its old renditions; `completion.replace` swaps the rows in one statement.

Crashes are counted as for new photos (pipeline/claims.py), in columns of their own
(schema/0012): an attempt still open at the next claim crashed, and at `max_crashes` the
re-render gives up, the photo keeping its renditions, so a photo that kills its worker cannot
take the lane down forever with a message RabbitMQ keeps redelivering.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from peewee import Database

from models import COMPLETED
from pipeline.locks import TRY_LOCK, discard_session, lock_key, released

Verdict = Literal["claimed", "current", "not_completed", "crashed", "gone", "busy"]
CRASHED = "crashed: the worker stopped %s times while re-rendering this photo, with no outcome"

_CLAIM = f"""
WITH lock AS MATERIALIZED (SELECT {TRY_LOCK % "%(key)s"} AS held),
found AS (
    SELECT uuid, status, rendered_with,
           rerender_crashes + (rerender_attempt_open AND NOT %(after_outage)s)::int AS crashes
    FROM photos WHERE uuid = %(id)s AND (SELECT held FROM lock)
    FOR UPDATE
),
verdict AS (
    SELECT uuid, crashes, CASE
        WHEN status <> %(completed)s THEN 'not_completed'
        WHEN rendered_with = %(fingerprint)s THEN 'current'
        WHEN crashes >= %(max_crashes)s THEN 'crashed'
        ELSE 'claimed' END AS verdict
    FROM found
),
updated AS (
    -- Any verdict but 'claimed' ends the re-render: the lane's backlog no longer counts it.
    UPDATE photos p SET
        rerender_crashes = CASE WHEN v.verdict = 'crashed' THEN 0 ELSE v.crashes END,
        rerender_attempt_open = v.verdict = 'claimed',
        rerender_queued_at = CASE WHEN v.verdict = 'claimed' THEN p.rerender_queued_at END,
        rerender_queued_for = CASE WHEN v.verdict = 'claimed' THEN p.rerender_queued_for END,
        rerender_failed_with = CASE WHEN v.verdict = 'crashed' THEN %(fingerprint)s
                                    ELSE p.rerender_failed_with END,
        rerender_failure = CASE WHEN v.verdict = 'crashed' THEN format(%(crashed)s, v.crashes)
                                ELSE p.rerender_failure END
    FROM verdict v
    WHERE p.uuid = v.uuid
    RETURNING v.verdict, p.url
)
SELECT (SELECT held FROM lock), verdict, url,
       ARRAY(SELECT t.url FROM photo_thumbnails t WHERE t.photo_uuid = %(id)s)
FROM (SELECT 1) one LEFT JOIN updated ON true
"""


@dataclass(frozen=True)
class RerenderClaim:
    """What claiming a photo for a re-render found."""

    verdict: Verdict
    url: str | None = None  # the source, when claimed
    # The objects its rows name now: what the store must keep of it, whatever the verdict.
    relpaths: tuple[str, ...] = ()


@contextmanager
def claimed(
    db: Database, photo_id: UUID, *, fingerprint: str, max_crashes: int, after_outage: bool = False
) -> Iterator[RerenderClaim]:
    """Take the photo's lock and claim it for a re-render to `fingerprint`, in one round trip;
    hold the lock for the block. Verdicts: claimed (render it); current (its renditions are
    made with these settings already: a duplicate, or a run that raced it); not_completed (the
    new-photo lane owns it: pending, processing or failed); crashed (given up, see the module);
    gone (deleted); busy (another worker holds it now)."""
    key = lock_key(photo_id)
    try:
        locked, verdict, url, relpaths = db.execute_sql(
            _CLAIM,
            {
                "key": key,
                "id": str(photo_id),
                "after_outage": after_outage,
                "completed": COMPLETED,
                "fingerprint": fingerprint,
                "max_crashes": max_crashes,
                "crashed": CRASHED,
            },
        ).fetchone()
    except Exception:
        discard_session(db)  # a session lock outlives a rollback (see claims.claimed)
        raise
    with released(db, key, bool(locked)):
        if not locked:
            yield RerenderClaim("busy")
        else:
            yield RerenderClaim(verdict or "gone", url, tuple(relpaths or ()))


def end_attempt(db: Database, photo_id: UUID, *, retried: bool) -> None:
    """Close the open re-render attempt of a photo whose re-render raised (no crash). A retry
    will come (`retried`), or the failure hook (`give_up`): the re-render goes on either way."""
    db.execute_sql(
        "UPDATE photos SET rerender_attempt_open = false,"
        " rerender_queued_at = CASE WHEN %s THEN now() ELSE rerender_queued_at END"
        " WHERE uuid = %s AND rerender_attempt_open",
        (retried, str(photo_id)),
    )


def give_up(db: Database, photo_id: UUID, *, fingerprint: str, reason: str) -> bool:
    """Record that re-rendering the photo to `fingerprint` failed for good: it keeps its
    renditions, and runs for these settings leave it out (unless asked to retry failed ones).
    Return whether it changed (not when the photo has these renditions already)."""
    cursor = db.execute_sql(
        "UPDATE photos SET rerender_failed_with = %s, rerender_failure = %s, rerender_attempt_open = false,"
        " rerender_queued_at = NULL, rerender_queued_for = NULL"
        " WHERE uuid = %s AND status = %s AND rendered_with <> %s",
        (fingerprint, reason[:2000], str(photo_id), COMPLETED, fingerprint),
    )
    return bool(cursor.rowcount)
