"""Worker middleware: the photo processor's lifetime, and the hook that records failures."""

from __future__ import annotations

import functools
import logging
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from actors import runtime
from config import Config
from pipeline.reconcile import ReconcilerThread, reconcile_once
from pipeline.retry import failure_reason

log = logging.getLogger(__name__)


class WorkerRuntime(Middleware):
    """Builds the photo processor when a worker process boots, runs the reconciler beside the
    worker threads, and closes both at shutdown."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._reconciler: ReconcilerThread | None = None

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        runtime.start(self._config)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        send = broker.get_actor("process_photo").send
        lease_s = self._config.lease_s
        self._reconciler = ReconcilerThread(
            functools.partial(reconcile_once, runtime.processor().db, send, lease_s=lease_s),
            interval_s=min(60.0, max(1.0, lease_s / 4)),
        )
        self._reconciler.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._reconciler is not None:
            self._reconciler.stop()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        runtime.stop()


class PhotoFailures(Middleware):
    """Sets a photo 'failed', with the reason, once its message has failed for good.

    A message fails for good when the retry policy refuses another attempt (a permanent error,
    or RETRY_MAX retries used) or when it is too old to run. If the database cannot be reached
    now, the photo stays 'processing' and the reconciler queues it again once its lease expires.
    """

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if exception is not None and message.failed:
            self._record(message, failure_reason(exception))

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.failed:
            self._record(message, "expired: the message was too old to process")

    def _record(self, message: Any, reason: str) -> None:
        if message.actor_name != "process_photo" or not message.args:
            return
        photo_id = message.args[0]
        if runtime.record_failure(photo_id, reason):
            log.warning(
                "Photo failed: %s", reason, extra={"photo": photo_id, "message_id": message.message_id}
            )
