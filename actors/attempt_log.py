"""The worker's log lines: one per message handled, saying what happened and where the time went."""

from __future__ import annotations

import logging

from pipeline.errors import Failure
from pipeline.outcome import Outcome

log = logging.getLogger("actors.process_photo")


def attempt_failed(photo_id: str, message_id: str | None, failure: Failure, elapsed_s: float) -> None:
    """An attempt that raised: the retry policy decides what comes next."""
    log.info(
        "Photo attempt failed: %s.",
        failure.sentence,
        extra={
            "photo": photo_id,
            "message_id": message_id,
            "outcome": failure.code,
            "elapsed_ms": round(elapsed_s * 1000, 1),
        },
    )


def handled(outcome: Outcome, message_id: str | None) -> None:
    """An attempt that ended without raising: completed, skipped, or failed by its claim."""
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


def photo_failed(photo_id: str, message_id: str | None, reason: str) -> None:
    """A photo set 'failed'."""
    log.warning("Photo failed: %s", reason, extra={"photo": photo_id, "message_id": message_id})
