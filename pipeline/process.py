"""Process one photo: claim it, download it, make its thumbnail, store it, complete it.

Every step that can fail raises an error of `pipeline.errors` (or a database error); none is
caught here. What an error means (retry or fail) is the retry policy's business, and marking a
photo 'failed' is the failure hook's, so this module has one path: the one that works.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from peewee import Database

from pipeline import claims
from pipeline.errors import PermanentError
from pipeline.fetch import Download
from pipeline.storage import ThumbnailStore
from pipeline.thumbnail import Thumbnail

log = logging.getLogger(__name__)


class InvalidMessage(PermanentError):
    """Raised when a message does not carry a photo UUID."""

    code = "invalid_message"


@dataclass
class Outcome:
    """What processing one message did, for the log line and the metrics."""

    photo_id: str
    result: str  # "completed", "skipped_busy", "skipped_done"
    bytes_downloaded: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoProcessor:
    """The collaborators of one photo's processing, built once per worker process."""

    db: Database
    fetch: Callable[[str], Download]
    thumbnail: Callable[[bytes], Thumbnail]
    store: ThumbnailStore

    def process(self, photo_id: str) -> Outcome:
        """Process the photo `photo_id`; raise what went wrong, for the retry policy to judge."""
        uuid = parse_photo_id(photo_id)
        outcome = Outcome(photo_id=str(uuid), result="completed")
        started = time.monotonic()
        with self.db.connection_context(), claims.claimed(self.db, uuid) as claim:
            if not claim.locked:
                # Another live worker holds this photo: this message is a duplicate. That
                # worker completes the photo, or its own message is retried or redelivered.
                outcome.result = "skipped_busy"
                return outcome
            if claim.url is None:
                outcome.result = "skipped_done"
                return outcome
            outcome.timings["claim"] = time.monotonic() - started
            download = self.fetch(claim.url)
            outcome.bytes_downloaded = len(download.data)
            outcome.timings["download"] = download.elapsed_s
            thumbnail = self.thumbnail(download.data)
            outcome.timings["decode"] = thumbnail.decode_s
            outcome.timings["encode"] = thumbnail.encode_s
            mark = time.monotonic()
            relpath = self.store.write(uuid, thumbnail.data, thumbnail.extension)
            outcome.timings["store"] = time.monotonic() - mark
            mark = time.monotonic()
            claims.complete(self.db, uuid, relpath=relpath, width=thumbnail.width, height=thumbnail.height)
            outcome.timings["database"] = time.monotonic() - mark
            outcome.timings["total"] = time.monotonic() - started
        return outcome

    def fail(self, photo_id: str, reason: str) -> bool:
        """Mark the photo 'failed' and remove any thumbnail file it has; return whether it changed.

        Done under the photo's lock: if another worker holds the photo now, its outcome wins.
        """
        try:
            uuid = parse_photo_id(photo_id)
        except InvalidMessage:
            return False
        with self.db.connection_context(), claims.photo_lock(self.db, uuid) as locked:
            if not locked:
                return False
            changed = claims.mark_failed(self.db, uuid, reason)
            if changed:
                self.store.remove(uuid)
            return changed


def parse_photo_id(value: object) -> UUID:
    """The photo UUID a message carries; InvalidMessage when it carries anything else."""
    if not isinstance(value, str):
        raise InvalidMessage(f"expected a photo UUID string, got {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidMessage(f"expected a photo UUID, got {value[:64]!r}") from None
