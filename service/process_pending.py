"""Queue every photo of a status (pending or failed), for tables of any size.

Pages through the table by (created_at, uuid), so photos that change status meanwhile neither
shift nor repeat the pages, and sends one confirmed message per photo, a page at a time. Photos whose message was
confirmed less than `skip_queued_within_s` ago (photos.queued_at) are left alone, so running it
twice queues nothing the second time while those messages wait in the queue; a duplicate would
be harmless anyway (the worker skips a photo that is done or held by another worker).

The database's part runs on a thread of its own, overlapping the publishing: while a page's
messages go out and their confirms come back, the next page is read, its photos given a fresh
budget (one statement does both, as `send_all` does before it publishes), and the page before is
marked queued; an error marking surfaces at the next page. A broker failure stops the run; the
page read ahead then had its budget reset without a message, as any request the broker refuses
does. A database failure stops it too, once the pages already sent are settled (DatabaseStopped
says how many photos were queued).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import peewee
from peewee import SQL, Database, fn

from models import FAILED, PENDING, Photo
from pipeline.process_requests import FRESH_BUDGET, NOT_FRESH
from publishing import PublishInterrupted, mark_queued

log = logging.getLogger(__name__)

BATCH_SIZE = 3000  # rows per page: larger pages keep more of the broker busy per round trip

# A page of candidates in keyset order, their budget made fresh in the same statement. The
# UPDATE finds the page's rows by key (`= ANY(ARRAY(...))` is an index condition on photos_pkey):
# joined to the page instead, the planner hashed a scan of every pending or failed photo for each
# page. The page comes back unordered (a CTE's rows have no order) and is sorted by read_page:
# an ORDER BY here would be a Sort node over the page, with no index to read it from.
_PAGE = f"""
WITH page AS (
    SELECT uuid, created_at FROM photos
    WHERE status = %s AND (queued_at IS NULL OR queued_at < now() - make_interval(secs => %s))
    AND (created_at, uuid) > (%s, %s)
    ORDER BY created_at, uuid LIMIT %s
), fresh AS (
    UPDATE photos SET {FRESH_BUDGET}
    WHERE uuid = ANY(ARRAY(SELECT uuid FROM page)) AND status = ANY(%s::photo_status[]) AND {NOT_FRESH}
)
SELECT uuid, created_at FROM page
"""
# Before every row of the table: where the first page starts.
_START = (datetime(1, 1, 1), str(UUID(int=0)))

Page = list[tuple[str, datetime]]

# What a failing database raises (a connection lost, a statement refused).
DATABASE_ERRORS = (peewee.DatabaseError, peewee.InterfaceError)


class Pipelined(Protocol):
    """A publisher whose batches can be written before the last one is confirmed
    (publishing.confirmed.ConfirmedPublisher)."""

    def start(self, photo_ids: list[str]) -> Any: ...

    def finish(self, outgoing: Any) -> list[str]: ...


def queue_by_status(
    publisher: Pipelined,
    *,
    status: str,
    skip_queued_within_s: int,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Send a message for every photo in `status` not queued recently; return how many were sent.

    A page is written to the broker before the one before it is confirmed, so that building
    its messages overlaps the broker's work on the other.
    """
    db: Database = Photo._meta.database
    recently = fn.now() - SQL("make_interval(secs => %s)", (skip_queued_within_s,))
    total = (
        Photo.select()
        .where((Photo.status == status) & (Photo.queued_at.is_null() | (Photo.queued_at < recently)))
        .count()
    )

    def read_page(after: tuple[datetime, str]) -> Page:
        cursor = db.execute_sql(_PAGE, (status, skip_queued_within_s, *after, batch_size, [PENDING, FAILED]))
        # UUID objects order as PostgreSQL orders uuids (by their bytes), so this is the keyset order.
        rows = sorted((created_at, UUID(str(uuid))) for uuid, created_at in cursor.fetchall())
        return [(str(uuid), created_at) for created_at, uuid in rows]

    sent = 0
    marking: list[Future[bool]] = []  # the database thread's marks, each checked before returning
    unsettled: list[Any] = []  # pages on the wire, not finished yet (at most two)

    def marked() -> None:
        """Raise what went wrong marking pages queued (in the database thread)."""
        while marking:
            marking.pop(0).result()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-database") as database:

        def settle(outgoing: Any, then: Any = None) -> None:
            """Wait for a page's confirms and mark its photos queued (in the background)."""
            nonlocal sent
            unsettled.remove(outgoing)
            try:
                queued = publisher.finish(outgoing)
            except PublishInterrupted as interrupted:
                stopped = interrupted
                if then is not None:  # the next page is out too: learn what became of it
                    unsettled.remove(then)
                    try:
                        stopped = _joined(stopped, PublishInterrupted(publisher.finish(then), []))
                    except PublishInterrupted as also:
                        stopped = _joined(stopped, also)
                marking.append(database.submit(mark_queued, stopped.queued))
                sent += len(stopped.queued)
                marked()
                raise stopped from interrupted.__cause__
            marking.append(database.submit(mark_queued, queued))
            sent += len(queued)
            if progress is not None:
                progress(sent, max(total, sent))

        try:
            page = database.submit(read_page, _START).result()
            while page:
                ahead = database.submit(read_page, (page[-1][1], page[-1][0]))
                unsettled.append(publisher.start([photo_id for photo_id, _ in page]))
                if len(unsettled) == 2:
                    settle(unsettled[0], then=unsettled[1])
                marked()
                page = ahead.result()
            if unsettled:
                settle(unsettled[0])
            marked()
        except DATABASE_ERRORS as error:
            # Pages already on the wire are settled first: what the broker confirmed is queued,
            # counted and marked, not left unaccounted for behind the database's error.
            for outgoing in list(unsettled):
                try:
                    settle(outgoing)
                except PublishInterrupted as also:
                    log.warning("After the database failed, the broker too: %s", also)
            for mark in marking:
                mark.exception()  # wait; the first error is the one raised
            raise DatabaseStopped(sent, error) from error
        finally:
            database.submit(db.close)  # the thread's own connection
    return sent


class DatabaseStopped(Exception):
    """A database error stopped the run; `sent` photos were queued before it."""

    def __init__(self, sent: int, error: BaseException) -> None:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        super().__init__(f"the database failed: {first_line}")
        self.sent = sent


def _joined(first: PublishInterrupted, second: PublishInterrupted) -> PublishInterrupted:
    return PublishInterrupted(first.queued + second.queued, first.not_queued + second.not_queued)
