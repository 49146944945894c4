"""One error hierarchy for processing a photo, each class saying whether trying again may help.

The retry policy (`pipeline.retry`) reads `transient`; the failure hook stores `reason()`.
Every class has a short stable `code` for logs, metrics and the stored failure reason.
"""

from __future__ import annotations


class PhotoError(Exception):
    """Root of the errors raised while processing one photo."""

    code = "photo_error"
    transient = False

    def reason(self) -> str:
        """The failure reason kept on the photo: the code, then the message."""
        return f"{self.code}: {self}"


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
    """Raised when the header announces more pixels than MAX_IMAGE_PIXELS."""

    code = "image_too_large"


# --- our own side ------------------------------------------------------------------------


class StorageError(TransientError):
    """Raised when the thumbnail file could not be written (disk full, permissions)."""

    code = "storage_error"
