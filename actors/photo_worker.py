"""The photo work of one worker process, for the process's life: one Dramatiq middleware.

At process boot it builds the photo processor and the metrics. The actor hands it each message
(`handle`), which processes the photo and logs and meters the attempt. Once a message has
failed for good, its `after_*` hook sets the photo 'failed'. Beside the worker threads it runs
the reconciler; at shutdown it closes what it opened. Every error is read through
`errors.classify`, the one place an error gets its code and meaning.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, NamedTuple

import dramatiq
from dramatiq.middleware import Middleware

import logsetup
from actors.metrics import WorkerMetrics
from config import Config
from pipeline.errors import EXPIRED, Failure, classify
from pipeline.processor import PhotoProcessor
from pipeline.reconcile import ReconcilerThread, reconcile_once

log = logging.getLogger("actors.process_photo")

ACTOR_NAME = "process_photo"


class _Booted(NamedTuple):
    """What a worker process builds at boot and keeps for its life."""

    processor: PhotoProcessor
    metrics: WorkerMetrics


class PhotoWorker(Middleware):
    """Owns the photo processor and its metrics in a worker process; records final failures.

    It must come before Retries in the broker's middleware: `after_*` hooks run in reverse
    order, and `message.failed` is only set once Retries has refused another attempt.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._booted: _Booted | None = None
        self._reconciler: ReconcilerThread | None = None
        self._cutoff: threading.Timer | None = None

    # --- the process's life -------------------------------------------------------------------

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        logsetup.configure(self._config.log_format)
        self._booted = _Booted(PhotoProcessor.from_config(self._config), WorkerMetrics())

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        lease_s = self._config.lease_s
        self._reconciler = ReconcilerThread(
            functools.partial(
                reconcile_once, self.processor.db, broker.get_actor(ACTOR_NAME).send, lease_s=lease_s
            ),
            interval_s=min(60.0, max(1.0, lease_s / 4)),
        )
        self._reconciler.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._reconciler is not None:
            self._reconciler.stop()
        if self._booted is not None:
            # Dramatiq waits WORKER_SHUTDOWN_MS for the photos in flight, then exits anyway. Downloads
            # still running at half of it are cut, so that their threads end cleanly in that time:
            # the photo's lock released, its message retried (an outage: see WorkerStopping).
            cut = self._booted.processor.fetcher.interrupt
            self._cutoff = threading.Timer(self._config.worker_shutdown_ms / 2000, cut)
            self._cutoff.daemon = True
            self._cutoff.start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._cutoff is not None:
            self._cutoff.cancel()
        if self._booted is not None:
            self._booted.processor.close()
        self._booted = None

    @property
    def processor(self) -> PhotoProcessor:
        """The processor of this worker process."""
        return self._boot_state().processor

    def _boot_state(self) -> _Booted:
        if self._booted is None:
            raise RuntimeError("the photo worker was not booted (is PhotoWorker in the broker's middleware?)")
        return self._booted

    # --- each message -------------------------------------------------------------------------

    def handle(self, photo_id: str, *, message_id: str | None) -> None:
        """Process one photo; log one line saying what happened and where the time went."""
        processor, metrics = self._boot_state()
        started = time.monotonic()
        try:
            outcome = processor.process(photo_id)
        except Exception as error:
            failure = classify(error)
            metrics.attempt(failure.code)
            log.info(
                "Photo attempt failed: %s.",
                failure.sentence,
                extra={
                    "photo": photo_id,
                    "message_id": message_id,
                    "outcome": failure.code,
                    "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            raise
        metrics.attempt(outcome.result, timings=outcome.timings, downloaded=outcome.bytes_downloaded)
        source = {"content_type": outcome.content_type, "redirected_to": outcome.redirected_to}
        log.info(
            "Photo %s.",
            outcome.result.replace("_", " "),
            extra={
                "photo": outcome.photo_id,
                "message_id": message_id,
                "outcome": outcome.result,
                "bytes": outcome.bytes_downloaded,
                **{name: value for name, value in source.items() if value},
                **{f"{stage}_ms": round(seconds * 1000, 1) for stage, seconds in outcome.timings.items()},
            },
        )

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if exception is not None and message.failed:
            self._fail(message, classify(exception))

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.failed:
            self._fail(message, EXPIRED)

    def _fail(self, message: Any, failure: Failure) -> None:
        """Set the photo 'failed' with the failure's reason, once its message failed for good.

        If the database cannot be reached now, the photo stays 'processing' and the reconciler
        queues it again once its lease expires.
        """
        if message.actor_name != ACTOR_NAME or not message.args:
            return
        processor, metrics = self._boot_state()
        photo_id = message.args[0]
        if not processor.fail(photo_id, failure.reason):
            return
        metrics.failed(failure.code)
        log.warning(
            "Photo failed: %s", failure.reason, extra={"photo": photo_id, "message_id": message.message_id}
        )


def photo_worker(broker: dramatiq.Broker) -> PhotoWorker:
    """The PhotoWorker middleware of `broker`."""
    for middleware in broker.middleware:
        if isinstance(middleware, PhotoWorker):
            return middleware
    raise RuntimeError("the broker has no PhotoWorker middleware")
