"""Dramatiq's Retries, with outages of ours kept apart from the photo's own retries.

Retries counts every retry of a message against RETRY_MAX. An outage of ours (the database or
the thumbnail storage down, the worker stopping) is not the photo's fault: retried like any
other, with backoff, for as long as it lasts, but counted in a message option of its own. So a
photo that waited out a long outage still has all its retries for its source afterwards, and
its next attempt knows the last one ended in an outage, not in a crash (`OUTAGE_OPTION`).
"""

from __future__ import annotations

import functools
from typing import Any

import dramatiq
from dramatiq.common import compute_backoff
from dramatiq.middleware import Retries

from config import Config
from pipeline.errors import classify
from pipeline.retry import should_retry

# Message options: how many outage retries the message had, and whether its last attempt
# ended in one (an attempt left open then is not a crash).
OUTAGE_RETRIES = "photo_outage_retries"
OUTAGE_OPTION = "photo_after_outage"


class PhotoRetries(Retries):
    """Retries with the policy of `pipeline.retry`, outages counted apart."""

    def __init__(self, config: Config) -> None:
        super().__init__(
            max_retries=config.retry_max,
            min_backoff=config.retry_min_backoff_ms,
            max_backoff=config.retry_max_backoff_ms,
            retry_when=functools.partial(should_retry, max_retries=config.retry_max),
        )

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        outage = exception is not None and classify(exception).outage
        message.options[OUTAGE_OPTION] = outage
        if not outage:
            super().after_process_message(broker, message, result=result, exception=exception)
            return
        outages = message.options.get(OUTAGE_RETRIES, 0)
        message.options[OUTAGE_RETRIES] = outages + 1
        _, delay = compute_backoff(outages, factor=self.min_backoff, max_backoff=self.max_backoff)
        # An outage that knows its end (a paused source host: pipeline/host_breaker.py) says when.
        delay = getattr(exception, "retry_after_ms", None) or delay
        self.logger.info("Retrying message %r in %d milliseconds.", message.message_id, delay)
        broker.enqueue(message, delay=delay)
