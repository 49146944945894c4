"""One error hierarchy for processing a photo, and `classify`, the one place an error gets its meaning.

Every class has a short stable `code` and says whether trying again may help (`transient`).
`classify` turns any exception (ours, a database outage, a bug) into a `Failure`: the retry
policy, the stored failure reason, the worker's log line and its metrics all read that.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee
from dramatiq.middleware import Shutdown

# The longest failure reason kept for an unexpected error (its text may be anything).
_INTERNAL_REASON_CHARS = 500


class PhotoError(Exception):
    """Root of the errors raised while processing one photo."""

    code = "photo_error"
    transient = False
    # Not the photo's fault but ours (our storage is down): retried for as long as it lasts.
    outage = False


class TransientError(PhotoError):
    """Raised when trying again later may succeed."""

    transient = True


class PermanentError(PhotoError):
    """Raised when trying again cannot succeed: the photo fails at once."""

    transient = False


# --- the source (download) ---------------------------------------------------------------


class SourceUnavailable(TransientError):
    """Raised when the source could not be reached or answered 5xx, 408 or 429."""

    code = "source_unavailable"


class SourceRefused(PermanentError):
    """Raised when the URL may not be fetched: a scheme other than http(s), a private or
    otherwise forbidden address, or too many redirects."""

    code = "source_refused"


class SourceHttpError(PermanentError):
    """Raised when the source answered a 4xx status other than 408 and 429."""

    code = "source_http_error"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class SourceTooLarge(PermanentError):
    """Raised when the body is longer than MAX_DOWNLOAD_BYTES."""

    code = "source_too_large"


class SourceTooSlow(PermanentError):
    """Raised when the whole download takes longer than DOWNLOAD_DEADLINE_S."""

    code = "source_too_slow"


# --- the image ---------------------------------------------------------------------------


class NotAnImage(PermanentError):
    """Raised when the body is not an image in a format we read (HTML, text, unknown)."""

    code = "not_an_image"


class CorruptImage(PermanentError):
    """Raised when the image is truncated or its data cannot be decoded."""

    code = "corrupt_image"


class ImageTooLarge(PermanentError):
    """Raised when the header announces more pixels than MAX_IMAGE_PIXELS, or an image that
    would take more memory than MAX_DECODE_MB to decode."""

    code = "image_too_large"


# --- our own side ------------------------------------------------------------------------


class StorageError(TransientError):
    """Raised when thumbnails cannot be stored now (disk full, read-only, permissions).

    An outage of ours, like the database's: the photo waits, and no download is repeated
    until the store can take a file again (`ThumbnailStore.check` runs before each download).
    """

    code = "storage_error"
    outage = True


class ThumbnailRefused(TransientError):
    """Raised when the store refuses one thumbnail itself (a 400 about that object), while it
    takes others: retried within the photo's budget, then the photo fails, rather than being
    downloaded again for as long as an outage would last."""

    code = "thumbnail_refused"


class WorkerStopping(TransientError):
    """Raised when the worker process stops while the photo's download runs: the download is cut,
    and the message is retried whatever RETRY_MAX says, since stopping is not the photo's fault."""

    code = "worker_stopping"
    outage = True


# --- what an error means -----------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """What went wrong with one attempt, and whether trying again may help."""

    code: str  # short and stable: a log field, a metric label, the start of the reason
    sentence: str
    transient: bool
    # Not the photo's fault (the database or our storage is down, the worker stopping):
    # retried for as long as it lasts.
    outage: bool = False

    @property
    def reason(self) -> str:
        """The failure reason kept on a failed photo: the code, then the sentence."""
        return f"{self.code}: {self.sentence}"


DATABASE_UNAVAILABLE = "database_unavailable"
INTERNAL_ERROR = "internal_error"
# A message that waited longer than Dramatiq's AgeLimit allows.
EXPIRED = Failure("expired", "the message was too old to process", transient=False)


def classify(error: BaseException) -> Failure:
    """The meaning of `error`: our own errors say it themselves; anything else is an outage or a bug."""
    if isinstance(error, PhotoError):
        return Failure(error.code, str(error), error.transient, outage=error.outage)
    if isinstance(error, Shutdown):  # Dramatiq's ShutdownNotifications, if an actor asks for it
        return Failure(
            WorkerStopping.code, "the worker stopped during the attempt", transient=True, outage=True
        )
    if isinstance(error, peewee.OperationalError | peewee.InterfaceError):
        return Failure(DATABASE_UNAVAILABLE, str(error), transient=True, outage=True)
    # A bug or a blip nobody foresaw: worth a few more tries, then the photo fails.
    sentence = f"{type(error).__name__}: {error}"
    return Failure(
        INTERNAL_ERROR, sentence[: _INTERNAL_REASON_CHARS - len(INTERNAL_ERROR) - 2], transient=True
    )
