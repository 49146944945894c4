"""Polite downloads: at most MAX_PER_HOST downloads at once from one source host per worker
process, and a breaker per host shared by the fleet (schema/0014, in PostgreSQL, so that every
worker sees one host's failures, not each its own).

- A host whose downloads fail HOST_BREAKER_FAILURES times in a row (no connection, no answer in
  time, 5xx, 408, 429: `SourceUnavailable`) is paused for HOST_PAUSE_S. Its photos wait: the
  download raises `HostPaused` before it starts, an outage of the source's host rather than the
  photo's fault, so no attempt is spent and no photo fails; the message comes back when the
  pause ends. Other hosts' photos go on at full speed.
- When the pause ends, one worker of the fleet wins the probe (one UPDATE ... RETURNING): it
  downloads one photo. A success closes the breaker; a failure pauses the host again.
- The per-host limit never holds a worker thread: a thread that finds its host's downloads all
  taken raises `HostBusy` (an outage too) and the message comes back a moment later, so a slow
  host occupies at most MAX_PER_HOST threads of a process.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from peewee import Database

from pipeline.errors import TransientError

BUSY_RETRY_MS = 1000


class HostPaused(TransientError):
    """Raised instead of a download from a host whose breaker is open: the photo waits."""

    code = "host_paused"
    outage = True

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class HostBusy(TransientError):
    """Raised when this process already downloads MAX_PER_HOST photos from the host."""

    code = "host_busy"
    outage = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.retry_after_ms = BUSY_RETRY_MS


def host_of(url: str) -> str:
    """The host a URL's download goes to: its name (lowercase) and port, if any."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


_STATE = """
SELECT paused_until IS NOT NULL, paused_until > now(),
       GREATEST(ceil(EXTRACT(epoch FROM paused_until - now()) * 1000), 0)::bigint
FROM source_hosts WHERE host = %s
"""
_PROBE = """
UPDATE source_hosts SET probe_until = now() + make_interval(secs => %s)
WHERE host = %s AND paused_until <= now() AND (probe_until IS NULL OR probe_until < now())
RETURNING host
"""
_FAILED = """
INSERT INTO source_hosts AS h (host, failures, last_error, updated_at) VALUES (%(host)s, 1, %(error)s, now())
ON CONFLICT (host) DO UPDATE SET
    failures = h.failures + 1,
    last_error = EXCLUDED.last_error,
    updated_at = now(),
    -- Open at the threshold, or again when the probe failed (a failure while it runs).
    paused_until = CASE WHEN h.failures + 1 >= %(threshold)s OR h.probe_until > now()
                        THEN now() + make_interval(secs => %(pause_s)s) ELSE h.paused_until END,
    probe_until = NULL
RETURNING paused_until > now()
"""
_SUCCEEDED = """
DELETE FROM source_hosts WHERE host = %s
"""


@dataclass
class HostBreaker:
    """The breaker and the per-process limit; one per worker process."""

    max_per_host: int
    failures_to_pause: int
    pause_s: float
    probe_s: float  # how long a probe may take: the download deadline

    @property
    def pause_ms(self) -> int:
        """The pause, for a retry's delay."""
        return int(self.pause_s * 1000) + 50

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._running: defaultdict[str, int] = defaultdict(int)

    @contextmanager
    def slot(self, db: Database, host: str) -> Iterator[bool]:
        """Hold one of the host's download slots for the block; HostBusy or HostPaused if none.
        Yields whether the host has failures on record (a success must then clear them)."""
        failing = self._check_open(db, host)
        with self._lock:
            if self._running[host] >= self.max_per_host:
                raise HostBusy(f"{self.max_per_host} downloads from {host} under way in this process")
            self._running[host] += 1
        try:
            yield failing
        finally:
            with self._lock:
                self._running[host] -= 1

    def _check_open(self, db: Database, host: str) -> bool:
        """Raise HostPaused unless the host may be downloaded from; whether it has a record."""
        row = db.execute_sql(_STATE, (host,)).fetchone()
        if row is None:
            return False
        was_paused, paused, left_ms = row
        if not was_paused:
            return True  # failures below the threshold: go
        if paused:
            raise HostPaused(f"{host} is paused after repeated failures", retry_after_ms=int(left_ms) + 50)
        if db.execute_sql(_PROBE, (self.probe_s, host)).fetchone() is None:
            # Another worker probes it now: wait for its verdict.
            raise HostPaused(f"{host} is being probed", retry_after_ms=int(self.probe_s * 1000 / 4) + 100)
        return True  # this worker probes it

    def failed(self, db: Database, host: str, error: str) -> bool:
        """Record a host failure; whether the host is paused now."""
        row = db.execute_sql(
            _FAILED,
            {
                "host": host,
                "error": error[:500],
                "threshold": self.failures_to_pause,
                "pause_s": self.pause_s,
            },
        ).fetchone()
        return bool(row and row[0])

    def succeeded(self, db: Database, host: str) -> None:
        """Record a download that worked from a host with failures on record: they end, and so
        does its pause (a healthy host has no record, and costs no write)."""
        db.execute_sql(_SUCCEEDED, (host,))


def paused_hosts(db: Database) -> list[dict[str, Any]]:
    """The hosts paused now, for /stats and the metrics."""
    rows = db.execute_sql(
        "SELECT host, paused_until, failures, last_error FROM source_hosts"
        " WHERE paused_until > now() OR probe_until > now() ORDER BY host"
    ).fetchall()
    return [
        {"host": host, "paused_until": until.isoformat(), "failures": failures, "last_error": error}
        for host, until, failures, error in rows
    ]
