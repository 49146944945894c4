"""What an error means for the message that raised it: try again, or fail the photo now."""

from __future__ import annotations

import peewee

from pipeline.errors import PhotoError


def is_database_outage(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or dropped the connection."""
    return isinstance(error, peewee.OperationalError | peewee.InterfaceError)


def should_retry(retries: int, error: BaseException, *, max_retries: int) -> bool:
    """The retry policy: `retries` is how many retries the message has had so far.

    - A permanent error (HTTP 4xx, not an image, a refused source) fails the photo at once.
    - A database outage is retried for as long as it lasts: the photo is not at fault, and
      the failure could not even be recorded. Backoff is capped by RETRY_MAX_BACKOFF_MS.
    - Transient errors (timeouts, HTTP 5xx and 429) and unexpected ones are retried up to
      RETRY_MAX times, then the photo fails.
    """
    if isinstance(error, PhotoError) and not error.transient:
        return False
    if is_database_outage(error):
        return True
    return retries < max_retries


def failure_reason(error: BaseException) -> str:
    """The reason stored on a failed photo."""
    if isinstance(error, PhotoError):
        return error.reason()
    return f"internal_error: {type(error).__name__}: {error}"[:500]
