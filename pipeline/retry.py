"""The retry policy: whether a message that raised gets another attempt.

The broker's Retries middleware asks `should_retry` (with RETRY_MAX and the backoff from the
configuration); the actor names `FAILS_AT_ONCE` as Dramatiq's `throws`, which only spares those
expected failures a traceback in the log: `should_retry` refuses them a retry all the same.
"""

from __future__ import annotations

from pipeline.errors import PermanentError, classify

FAILS_AT_ONCE = (PermanentError,)


def should_retry(retries: int, error: BaseException, *, max_retries: int) -> bool:
    """The retry policy: `retries` is how many retries the message has had so far.

    - A permanent error (HTTP 4xx, not an image, a refused source) fails the photo at once.
    - An outage (the database is down) is retried for as long as it lasts: the photo is not
      at fault, and the failure could not even be recorded. Backoff is capped by
      RETRY_MAX_BACKOFF_MS.
    - Transient errors (timeouts, HTTP 5xx and 429) and unexpected ones are retried up to
      RETRY_MAX times, then the photo fails.
    """
    failure = classify(error)
    if not failure.transient:
        return False
    return failure.outage or retries < max_retries
