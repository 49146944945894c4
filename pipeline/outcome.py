"""What processing one message did: the worker's log line and metrics are made of it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What processing one message did, for the log line and the metrics."""

    photo_id: str
    # completed; failed (by the claim: crashed, retries_exhausted); skipped_busy (held by another
    # worker), skipped_done (completed or failed already), skipped_gone (deleted before or while
    # it was processed: any file of it removed)
    result: str
    failure_code: str | None = None
    failure_reason: str | None = None
    fetched: bool = False  # whether a download was started
    deduplicated: bool = False  # its renditions were copied from a photo with the same bytes
    from_original: bool = False  # a re-render read the kept original, not the source's URL
    bytes_downloaded: int = 0
    content_type: str | None = None  # what the source said it sent
    redirected_to: str | None = None  # where the source's redirects led, if anywhere
    timings: dict[str, float] = field(default_factory=dict)
