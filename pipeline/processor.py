"""The steps of one photo: claim it, download it, make its thumbnail, store it, complete it.

Every step that can fail raises an error of `pipeline.errors` (or a database error); none is
caught here. What an error means is `errors.classify`'s business, whether to try again the retry
policy's, and the worker calls `fail` once a message has failed for good. So `process` has one
path: the one that works.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from playhouse.pool import PooledPostgresqlDatabase

from config import Config
from models import init_db
from pipeline import claims
from pipeline.errors import PermanentError
from pipeline.fetch import Fetcher, FetchPolicy
from pipeline.storage import ThumbnailStore
from pipeline.thumbnail import Thumbnail, make_thumbnail

# Temporary files older than this were left by a writer that died (a live one takes a second).
STALE_TEMP_FILE_S = 600
# Database connections of one worker process: one per worker thread, plus the reconciler's.
MAX_CONNECTIONS = 32


class InvalidMessage(PermanentError):
    """Raised when a message does not carry a photo UUID."""

    code = "invalid_message"


@dataclass
class Outcome:
    """What processing one message did, for the log line and the metrics."""

    photo_id: str
    result: str  # "completed", "skipped_busy", "skipped_done"
    bytes_downloaded: int = 0
    content_type: str | None = None  # what the source said it sent
    redirected_to: str | None = None  # where the source's redirects led, if anywhere
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoProcessor:
    """The collaborators of one photo's processing, built once per worker process."""

    db: PooledPostgresqlDatabase
    fetcher: Fetcher
    thumbnail: Callable[[bytes], Thumbnail]
    store: ThumbnailStore

    @classmethod
    def from_config(cls, config: Config) -> PhotoProcessor:
        """The processor the worker runs with: the database, downloads, thumbnails and files."""
        db = init_db(config, max_connections=MAX_CONNECTIONS)
        store = ThumbnailStore(config.thumbs_dir)
        config.thumbs_dir.mkdir(parents=True, exist_ok=True)
        store.sweep_temporary(older_than_s=STALE_TEMP_FILE_S)
        return cls(
            db=db,
            fetcher=Fetcher(FetchPolicy.from_config(config)),
            thumbnail=functools.partial(
                make_thumbnail,
                max_size=config.thumb_max,
                quality=config.thumb_quality,
                max_pixels=config.max_image_pixels,
                max_decode_mb=config.max_decode_mb,
            ),
            store=store,
        )

    def close(self) -> None:
        """Close the download and database connections; call when no photo is being processed."""
        self.fetcher.close()
        self.db.close_all()

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
            download = self.fetcher.fetch(claim.url)
            outcome.bytes_downloaded = len(download.data)
            outcome.content_type = download.content_type
            if download.final_url != claim.url:
                outcome.redirected_to = download.final_url
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
