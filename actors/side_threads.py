"""The threads a worker process runs beside its photo threads: housekeeping and webhooks.

Each holds a database connection of its own while it works, so the process's pool is sized
here, once the number of photo threads is known (at worker boot): one connection for each photo
thread and one for each of these.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from actors.metrics import WorkerMetrics
from config import Config
from models import fold_counts
from pipeline.deletion import retry_removals
from pipeline.processor import PhotoProcessor
from pipeline.reconcile import ReconcilerThread, reconcile_once
from webhooks.dispatcher import WebhookDispatcher


class SideThreads:
    """The reconciler (with the other housekeeping) and the webhooks' delivery loop."""

    def __init__(
        self,
        config: Config,
        processor: PhotoProcessor,
        metrics: WorkerMetrics,
        send_photo: Callable[..., object],
        *,
        photo_threads: int,
    ) -> None:
        db, lease_s = processor.db, config.lease_s
        housekeeping: dict[str, Callable[[], object]] = {
            # Keeps the count deltas few even when nobody reads /stats (schema/0007).
            "fold counts": lambda: fold_counts(db),
            "reconcile": functools.partial(reconcile_once, db, send_photo, lease_s=lease_s),
            # Thumbnails of deleted photos that the API could not remove (it died, or the store
            # failed): recorded in photo_removals, removed here.
            "retry removals": lambda: retry_removals(db, processor.store),
        }
        self._reconciler = ReconcilerThread(housekeeping, interval_s=min(60.0, max(1.0, lease_s / 4)))
        # Its own thread and connection: a slow or absent receiver never holds a photo thread.
        self._webhooks = WebhookDispatcher(config, db, on_outcome=metrics.webhook)
        db.reserve(photo_threads + 2)

    def start(self) -> None:
        self._reconciler.start()
        self._webhooks.start()

    def stop(self) -> None:
        self._reconciler.stop()
        self._webhooks.stop()
