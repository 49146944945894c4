"""Queue every photo of a status (pending or failed), for tables of any size.

Pages through the table by (created_at, uuid), so photos that change status meanwhile neither
shift nor repeat the pages, and sends one confirmed message per photo, a page at a time. Photos whose message was
confirmed less than `skip_queued_within_s` ago (photos.queued_at) are left alone, so running it
twice queues nothing the second time while those messages wait in the queue; a duplicate would
be harmless anyway (the worker skips a photo that is done or held by another worker).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from peewee import SQL, fn

from models import Photo, after_position
from service.publishing import Publish, send_all

BATCH_SIZE = 1000


def queue_by_status(
    publish: Publish,
    *,
    status: str,
    skip_queued_within_s: int,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Send a message for every photo in `status` not queued recently; return how many were sent."""
    recently = fn.now() - SQL("make_interval(secs => %s)", (skip_queued_within_s,))
    candidates = Photo.select(Photo.uuid, Photo.created_at).where(
        (Photo.status == status) & (Photo.queued_at.is_null() | (Photo.queued_at < recently))
    )
    total = candidates.count()
    sent = 0
    after = None
    while True:
        query = candidates
        if after is not None:
            query = query.where(after_position(*after))
        batch = list(query.order_by(Photo.created_at, Photo.uuid).limit(batch_size))
        if not batch:
            return sent
        sent += len(send_all(publish, [str(photo.uuid) for photo in batch]))
        if progress is not None:
            progress(sent, max(total, sent))
        after = (batch[-1].created_at, batch[-1].uuid)


class ProgressBar:
    """A one-line bar on a terminal; on anything else, a line at every tenth."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._stream = stream
        self._started = time.monotonic()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        rate = done / max(time.monotonic() - self._started, 1e-6)
        text = f"{self._label} {done}/{total} ({fraction:.0%}, {rate:.0f}/s)"
        if self._stream.isatty():
            filled = int(fraction * 30)
            self._stream.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {text}")
            if done >= total:
                self._stream.write("\n")
        elif int(fraction * 10) > self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self._stream.write(text + "\n")
        self._stream.flush()
