"""The worker process's photo processor: built at process boot, used by every worker thread."""

from __future__ import annotations

import functools
import logging
import time

import logsetup
from actors.metrics import WorkerMetrics
from config import Config
from models import db, init_db
from pipeline.errors import PhotoError
from pipeline.fetch import Fetcher, FetchPolicy
from pipeline.process import PhotoProcessor
from pipeline.retry import is_database_outage
from pipeline.storage import ThumbnailStore
from pipeline.thumbnail import make_thumbnail

log = logging.getLogger("actors.process_photo")

# Temporary files older than this were left by a writer that died (a live one takes a second).
STALE_TEMP_FILE_S = 600

_processor: PhotoProcessor | None = None
_fetcher: Fetcher | None = None
_metrics: WorkerMetrics | None = None


def start(config: Config) -> PhotoProcessor:
    """Build the processor from the configuration (once per worker process)."""
    global _processor, _fetcher, _metrics
    logsetup.configure(config.log_format)
    init_db(config, max_connections=32)
    store = ThumbnailStore(config.thumbs_dir)
    config.thumbs_dir.mkdir(parents=True, exist_ok=True)
    store.sweep_temporary(older_than_s=STALE_TEMP_FILE_S)
    _fetcher = Fetcher(FetchPolicy.from_config(config))
    _metrics = WorkerMetrics()
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


def error_code(error: BaseException) -> str:
    """A short, stable name for an error: its code, for logs and metric labels."""
    if isinstance(error, PhotoError):
        return error.code
    return "database_unavailable" if is_database_outage(error) else "internal_error"


def process(photo_id: str, *, message_id: str | None) -> None:
    """Process one photo; log one line saying what happened and where the time went."""
    started = time.monotonic()
    try:
        outcome = processor().process(photo_id)
    except Exception as error:
        code = error_code(error)
        if _metrics is not None:
            _metrics.attempt(code)
        log.info(
            "Photo attempt failed: %s.",
            error,
            extra={
                "photo": photo_id,
                "message_id": message_id,
                "outcome": code,
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        raise
    if _metrics is not None:
        _metrics.attempt(outcome.result, timings=outcome.timings, downloaded=outcome.bytes_downloaded)
    log.info(
        "Photo %s.",
        outcome.result.replace("_", " "),
        extra={
            "photo": outcome.photo_id,
            "message_id": message_id,
            "outcome": outcome.result,
            "bytes": outcome.bytes_downloaded,
            **{f"{stage}_ms": round(seconds * 1000, 1) for stage, seconds in outcome.timings.items()},
        },
    )


def record_failure(photo_id: str, reason: str) -> bool:
    """Mark the photo failed (see PhotoProcessor.fail) and count it; return whether it changed."""
    changed = processor().fail(photo_id, reason)
    if changed and _metrics is not None:
        _metrics.failed(reason.split(":", 1)[0])
    return changed
