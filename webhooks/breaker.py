"""A circuit breaker on the one receiver: a receiver that is down costs a pause, not a busy loop.

Each event backs off on its own (outbox.failed), but with thousands of events due, a receiver
that refuses connections would still be tried as fast as the senders can fail, and every try is
two UPDATEs. So after FAILURES_TO_OPEN failures in a row that say the receiver itself is unwell
(no answer, a timeout, a 5xx or 429: `Failure.outage`), the dispatcher stops claiming for a
pause, then claims one event to probe it. A probe that fails doubles the pause, up to
WEBHOOK_MAX_BACKOFF_S; one that gets through closes the breaker. Events never claimed in the
meantime gain no attempt. Used by the dispatcher's one thread only: no locking.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from uuid import UUID

log = logging.getLogger(__name__)

FAILURES_TO_OPEN = 5
FIRST_PAUSE_S = 1.0


class Breaker:
    """Closed (claim freely), or open until a time, then half-open (one probe in flight)."""

    def __init__(self, *, max_pause_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_pause_s, self._clock = max_pause_s, clock
        self._failures = 0  # outage failures in a row, while closed
        self._pause_s = 0.0
        self._open_until: float | None = None  # None: closed
        self._probe: UUID | None = None

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def room(self, free: int) -> int:
        """How many events may be claimed now, with `free` sender threads idle."""
        if self._open_until is None:
            return free
        if self._probe is not None or self._clock() < self._open_until:
            return 0
        return min(free, 1)

    def claimed(self, event_ids: list[UUID]) -> None:
        """Note the events just claimed: while open, the one claimed is the probe."""
        if self._open_until is not None and event_ids:
            self._probe = event_ids[0]

    def record(self, event_id: UUID, *, outage: bool) -> None:
        """Note how a delivery ended. While open, only the probe's outcome counts."""
        if self._open_until is not None:
            if event_id == self._probe:
                self._probe = None
                self._open() if outage else self._close()
            return
        self._failures = self._failures + 1 if outage else 0
        if self._failures >= FAILURES_TO_OPEN:
            self._open()

    def _open(self) -> None:
        self._pause_s = min(self._max_pause_s, max(FIRST_PAUSE_S, 2 * self._pause_s))
        self._open_until = self._clock() + self._pause_s
        log.warning(
            "The webhook receiver is failing; deliveries pause for %g s, then one event probes it.",
            self._pause_s,
        )

    def _close(self) -> None:
        if self._open_until is not None:
            log.info("The webhook receiver answers again; deliveries resume.")
        self._failures, self._pause_s, self._open_until = 0, 0.0, None
