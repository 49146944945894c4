"""The worker process's photo processor: built at process boot, used by every worker thread."""

from __future__ import annotations

import functools
import logging
import time

from config import Config
from models import db, init_db
from pipeline.fetch import Fetcher, FetchPolicy
from pipeline.process import PhotoProcessor
from pipeline.storage import ThumbnailStore
from pipeline.thumbnail import make_thumbnail

log = logging.getLogger("actors.process_photo")

# Temporary files older than this were left by a writer that died (a live one takes a second).
STALE_TEMP_FILE_S = 600

_processor: PhotoProcessor | None = None
_fetcher: Fetcher | None = None


def start(config: Config) -> PhotoProcessor:
    """Build the processor from the configuration (once per worker process)."""
    global _processor, _fetcher
    init_db(config, max_connections=32)
    store = ThumbnailStore(config.thumbs_dir)
    config.thumbs_dir.mkdir(parents=True, exist_ok=True)
    store.sweep_temporary(older_than_s=STALE_TEMP_FILE_S)
    _fetcher = Fetcher(FetchPolicy.from_config(config))
    _processor = PhotoProcessor(
        db=db,
        fetch=_fetcher.fetch,
        thumbnail=functools.partial(
            make_thumbnail,
            max_size=config.thumb_max,
            quality=config.thumb_quality,
            max_pixels=config.max_image_pixels,
        ),
        store=store,
    )
    return _processor


def stop() -> None:
    """Release the processor's connections."""
    global _processor, _fetcher
    if _fetcher is not None:
        _fetcher.close()
    if _processor is not None:
        db.close_all()
    _processor = _fetcher = None


def processor() -> PhotoProcessor:
    """The processor of this worker process."""
    if _processor is None:
        raise RuntimeError("the worker runtime was not started (WorkerRuntime middleware missing?)")
    return _processor


def process(photo_id: str, *, message_id: str | None) -> None:
    """Process one photo and log one line saying what happened and where the time went."""
    started = time.monotonic()
    try:
        outcome = processor().process(photo_id)
    except Exception as error:
        log.info(
            "photo=%s message=%s outcome=error error=%s elapsed_ms=%.1f",
            photo_id,
            message_id,
            type(error).__name__,
            (time.monotonic() - started) * 1000,
        )
        raise
    timings = " ".join(f"{name}_ms={seconds * 1000:.1f}" for name, seconds in outcome.timings.items())
    log.info(
        "photo=%s message=%s outcome=%s bytes=%d %s",
        outcome.photo_id,
        message_id,
        outcome.result,
        outcome.bytes_downloaded,
        timings,
    )
