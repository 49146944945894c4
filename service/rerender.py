"""Queue the completed photos whose renditions the current settings no longer make.

`python -m service rerender` pages through the completed photos by their fingerprint
(photos.rendered_with, pipeline/render_settings.py) on the index made for it (schema/0012):
two index ranges, the fingerprints before the current one and those after it, so photos
already current are never read. Each page is marked queued (rerender_queued_at, for these
settings) and sent to the re-render lane in one step, a page at a time:

- resumable: a run stopped anywhere (the broker or the database gone, Ctrl-C) is run again;
  photos marked but not confirmed by the broker are unmarked before it stops;
- idempotent: a photo queued for these settings within `skip_queued_within_s` is left alone,
  and two runs at once never both queue one photo (the marking UPDATE re-reads a row another
  run marked, and then leaves it);
- a photo queued by a run for older settings is queued again: the settings changed since.

A duplicate message would be harmless anyway: the worker finds the photo current and skips it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import peewee
from peewee import Database

from models import COMPLETED
from publishing import PublishInterrupted

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
# A day: a re-render queued longer ago for these settings, and not done, is presumed lost.
SKIP_QUEUED_WITHIN_S = 24 * 3600
DATABASE_ERRORS = (peewee.DatabaseError, peewee.InterfaceError)

# The fingerprints on either side of the current one, each an index range on
# photos_completed_rendered_with_idx.
_RANGES = ("rendered_with < %(fingerprint)s", "rendered_with > %(fingerprint)s")

# Which stale photos this run wants (besides being completed with other settings).
_WANTED = """
    (%(since)s::timestamptz IS NULL OR p.created_at >= %(since)s)
    AND (%(retry_failed)s OR p.rerender_failed_with IS DISTINCT FROM %(fingerprint)s)
    AND (%(preset)s::text IS NULL OR (SELECT count(*) FROM photo_thumbnails t
         WHERE t.photo_uuid = p.uuid AND t.preset = %(preset)s) < %(formats)s)
    AND (p.rerender_queued_for IS DISTINCT FROM %(fingerprint)s OR p.rerender_queued_at IS NULL
         OR p.rerender_queued_at < now() - make_interval(secs => %(skip_s)s))
"""
_COUNT = f"""
SELECT count(*) FROM photos p
WHERE p.status = %(completed)s AND (p.{_RANGES[0]} OR p.{_RANGES[1]}) AND {_WANTED}
"""
_PAGE = """
WITH page AS (
    SELECT uuid, rendered_with FROM photos
    WHERE status = %(completed)s AND {range} AND (rendered_with, uuid) > (%(after_fp)s, %(after_uuid)s::uuid)
    ORDER BY rendered_with, uuid LIMIT %(limit)s
), marked AS (
    UPDATE photos p SET rerender_queued_at = now(), rerender_queued_for = %(fingerprint)s
    WHERE p.uuid = ANY(ARRAY(SELECT uuid FROM page)) AND p.status = %(completed)s
    AND p.rendered_with <> %(fingerprint)s AND {wanted}
    RETURNING p.uuid
)
SELECT page.uuid, page.rendered_with, page.uuid IN (SELECT uuid FROM marked) FROM page
"""
_UNMARK = """
UPDATE photos SET rerender_queued_at = NULL, rerender_queued_for = NULL
WHERE uuid = ANY(%(ids)s::uuid[]) AND rerender_queued_for = %(fingerprint)s
"""


@dataclass(frozen=True)
class Selection:
    """Which photos a run queues: stale ones, narrowed by the command's options."""

    fingerprint: str  # the current settings'
    formats: int  # renditions per preset at these settings (the base format and the others)
    preset: str | None = None  # only photos lacking a rendition of this preset
    since: datetime | None = None  # only photos created at or after this
    limit: int | None = None  # at most this many
    retry_failed: bool = False  # photos whose re-render to these settings failed, too
    skip_queued_within_s: int = SKIP_QUEUED_WITHIN_S

    def params(self) -> dict[str, Any]:
        """The statements' parameters."""
        return {
            "fingerprint": self.fingerprint,
            "formats": self.formats,
            "preset": self.preset,
            "since": self.since,
            "retry_failed": self.retry_failed,
            "skip_s": self.skip_queued_within_s,
            "completed": COMPLETED,
        }


class DatabaseStopped(Exception):
    """The database failed during a run; says how many photos were queued before it."""

    def __init__(self, queued: int, error: BaseException) -> None:
        super().__init__(f"the database failed: {error}")
        self.queued = queued


def count(db: Database, selection: Selection) -> int:
    """How many photos a run would queue now (--dry-run), the limit aside."""
    found = int(db.execute_sql(_COUNT, selection.params()).fetchone()[0])
    return found if selection.limit is None else min(found, selection.limit)


def queue_stale(
    db: Database,
    publish: Callable[[list[str]], list[str]],
    selection: Selection,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Queue every photo `selection` wants for a re-render; return how many were queued.
    PublishInterrupted (those not confirmed unmarked) or DatabaseStopped when a part failed."""
    total = count(db, selection)
    queued = 0
    params = selection.params()
    for stale in _RANGES:
        statement = _PAGE.format(range=stale, wanted=_WANTED)
        after: tuple[str, str] = ("", str(UUID(int=0)))
        while selection.limit is None or queued < selection.limit:
            room = batch_size if selection.limit is None else min(batch_size, selection.limit - queued)
            try:
                rows = db.execute_sql(
                    statement, {**params, "after_fp": after[0], "after_uuid": after[1], "limit": room}
                ).fetchall()
            except DATABASE_ERRORS as error:
                raise DatabaseStopped(queued, error) from error
            if not rows:
                break
            # The page's last row in (rendered_with, uuid) order: where the next page starts.
            last = max((fingerprint, UUID(str(uuid))) for uuid, fingerprint, _ in rows)
            after = (last[0], str(last[1]))
            marked = [str(uuid) for uuid, _, was_marked in rows if was_marked]
            if marked:
                queued += _send(db, publish, marked, selection.fingerprint)
                if progress is not None:
                    progress(queued, max(total, queued))
    if progress is not None and queued == 0:
        progress(0, 0)
    return queued


def _send(
    db: Database, publish: Callable[[list[str]], list[str]], photo_ids: list[str], fingerprint: str
) -> int:
    """Publish the marked photos' messages; unmark those the broker did not confirm."""
    try:
        return len(publish(photo_ids))
    except PublishInterrupted as interrupted:
        try:
            db.execute_sql(_UNMARK, {"ids": interrupted.not_queued, "fingerprint": fingerprint})
        except DATABASE_ERRORS as error:
            # They stay marked: a run within skip_queued_within_s leaves them out (say so).
            log.warning(
                "Could not unmark %d photos the broker did not take: %r", len(interrupted.not_queued), error
            )
        raise
