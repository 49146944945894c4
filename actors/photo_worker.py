"""The photo work of one worker process, for the process's life: one Dramatiq middleware.

At process boot it builds the photo processor and the metrics. The actor hands it each message
(`handle`), which processes the photo and logs and meters the attempt. Once a message has
failed for good, its `after_*` hook sets the photo 'failed'. Beside the worker threads it runs
the reconciler and the webhooks' delivery loop (side_threads.py); at shutdown it closes what it
opened. Every error is read through `errors.classify`, the one place an error gets its code and
meaning.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, NamedTuple

import dramatiq
from dramatiq.common import compute_backoff
from dramatiq.middleware import Middleware

import logsetup
from actors import attempt_log
from actors.dramatiq_private import serve_only
from actors.lanes import queues_of
from actors.metrics import WorkerMetrics
from actors.retries import OUTAGE_OPTION
from actors.side_threads import SideThreads
from config import Config
from pipeline.errors import EXPIRED, Failure, classify
from pipeline.processor import PhotoProcessor

log = logging.getLogger("actors.process_photo")

ACTOR_NAME = "process_photo"
RERENDER_ACTOR_NAME = "rerender_photo"
# The message option counting how often a message found its photo held by another worker.
BUSY_RECHECKS = "photo_busy_rechecks"


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
        self._side: SideThreads | None = None
        self._cutoff: threading.Timer | None = None

    # --- the process's life -------------------------------------------------------------------

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        logsetup.configure(self._config.log_format)
        self._booted = _Booted(PhotoProcessor.from_config(self._config), WorkerMetrics())

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before any consumer starts: the lanes of WORKER_LANES only (actors/lanes.py).
        serve_only(worker, queues_of(self._config.lanes))

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        send_photo = broker.get_actor(ACTOR_NAME).send
        self._side = SideThreads(
            self._config, self.processor, self.metrics, send_photo, photo_threads=worker.worker_threads
        )
        self._side.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._side is not None:
            self._side.stop()
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

    @property
    def metrics(self) -> WorkerMetrics:
        """The metrics of this worker process."""
        return self._boot_state().metrics

    def _boot_state(self) -> _Booted:
        if self._booted is None:
            raise RuntimeError("the photo worker was not booted (is PhotoWorker in the broker's middleware?)")
        return self._booted

    # --- each message -------------------------------------------------------------------------

    def handle(self, photo_id: str, message: Any) -> None:
        """Process one photo (`message` carries it); log and meter what happened."""
        processor, metrics = self._boot_state()
        message_id = message.message_id if message is not None else None
        started = time.monotonic()
        after_outage = bool(message is not None and message.options.get(OUTAGE_OPTION))
        try:
            outcome = processor.process(photo_id, after_outage=after_outage)
        except BaseException as error:  # a time limit too, logged and metered like the rest
            failure = classify(error)
            metrics.attempt(failure.code)
            attempt_log.attempt_failed(photo_id, message_id, failure, time.monotonic() - started)
            raise
        metrics.attempt(outcome.result, timings=outcome.timings, downloaded=outcome.bytes_downloaded)
        metrics.sources(outcome)
        attempt_log.handled(outcome, message_id)
        if outcome.failure_code is not None and outcome.failure_reason is not None:
            metrics.failed(outcome.failure_code)
            attempt_log.photo_failed(outcome.photo_id, message_id, outcome.failure_reason)
        elif outcome.result == "skipped_busy" and message is not None:
            self._check_again_later(message)

    def handle_rerender(self, photo_id: str, message: Any) -> None:
        """Re-render one completed photo (`message` carries it); log and meter what happened."""
        processor, metrics = self._boot_state()
        message_id = message.message_id if message is not None else None
        started = time.monotonic()
        after_outage = bool(message is not None and message.options.get(OUTAGE_OPTION))
        try:
            outcome = processor.rerender(photo_id, after_outage=after_outage)
        except BaseException as error:
            failure = classify(error)
            metrics.rerender(failure.code)
            attempt_log.attempt_failed(photo_id, message_id, failure, time.monotonic() - started)
            raise
        metrics.rerender(outcome.result, timings=outcome.timings, downloaded=outcome.bytes_downloaded)
        metrics.sources(outcome)
        attempt_log.handled(outcome, message_id)
        if outcome.result == "skipped_busy" and message is not None:
            self._check_again_later(message)

    def _check_again_later(self, message: Any) -> None:
        """Send the message again, delayed: a photo another worker holds is not done yet.

        That worker may finish it (the copy then finds it done), or die or vanish without an
        outcome (the copy then claims it). Each time the wait doubles, up to the longest
        retry backoff.
        """
        rechecks = message.options.get(BUSY_RECHECKS, 0)
        message.options[BUSY_RECHECKS] = rechecks + 1
        # Dramatiq's own backoff, as for retries (without jitter: the holder's end is not a crowd).
        _, delay_ms = compute_backoff(
            rechecks,
            factor=self._config.retry_min_backoff_ms,
            max_backoff=self._config.retry_max_backoff_ms,
            jitter=False,
        )
        dramatiq.get_broker().enqueue(message, delay=delay_ms)
        log.info(
            "Photo held by another worker; checking again in %.1f s.",
            delay_ms / 1000,
            extra={"photo": message.args[0] if message.args else None, "message_id": message.message_id},
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
        if message.actor_name not in (ACTOR_NAME, RERENDER_ACTOR_NAME) or not message.args:
            return
        processor, metrics = self._boot_state()
        photo_id = message.args[0]
        if message.actor_name == RERENDER_ACTOR_NAME:
            # The photo keeps its renditions: only its re-render failed.
            if processor.give_up_rerender(photo_id, failure.reason):
                metrics.rerender("rerender_failed")
                log.warning(
                    "Re-render given up: %s",
                    failure.reason,
                    extra={"photo": photo_id, "message_id": message.message_id},
                )
            return
        if processor.fail(photo_id, failure.reason):
            metrics.failed(failure.code)
            attempt_log.photo_failed(photo_id, message.message_id, failure.reason)


def photo_worker(broker: dramatiq.Broker) -> PhotoWorker:
    """The PhotoWorker middleware of `broker`."""
    for middleware in broker.middleware:
        if isinstance(middleware, PhotoWorker):
            return middleware
    raise RuntimeError("the broker has no PhotoWorker middleware")
