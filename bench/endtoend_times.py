"""Each photo's times in the end-to-end suite, read from the database once the run is over.

- queued: photos.queued_at, which the API writes once the broker has confirmed the messages of
  the photo's batch (publishing/queue_photos.py): the service's own record of queueing, which
  `process-pending` and an operator read. Written after the confirms of all 1000, so a photo
  the worker finishes within that moment completes "before" it was queued: those are counted
  (`early`) and kept in the percentiles as they are (negative, and few).
- completed: photo_thumbnails.created_at, the now() of the one autocommitted statement that
  records the thumbnail and sets the photo completed (pipeline/claims.complete). Not
  photos.updated_at: any later write to the row moves it, such as that queued_at written after
  the worker already finished the photo. Failed photos are counted, not timed.
- asked: when the POST of the photo's batch was sent (the client's view, the POST included).
- claimed: photos.claimed_at, when the worker took it: claimed -> completed is the worker's own
  time on the photo (download, decode, encode, store, database).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from peewee import Database


@dataclass
class Times:
    """Seconds per completed photo, and how the others ended."""

    queued_to_done: list[float] = field(default_factory=list)
    asked_to_done: list[float] = field(default_factory=list)
    claimed_to_done: list[float] = field(default_factory=list)
    wall_s: float = 0.0  # the first POST sent -> the last photo completed or failed
    completed: int = 0
    failed_meant: int = 0  # the mix's sources meant to fail, failed
    failed_other: Counter[str] = field(default_factory=Counter)  # by failure code
    unfinished: int = 0  # neither completed nor failed at the deadline
    early: int = 0  # completed before queued_at was written

    @property
    def rate(self) -> float:
        """Photos completed or failed per second of wall time."""
        return (self.completed + self.failed_meant + sum(self.failed_other.values())) / self.wall_s


def photo_times(db: Database, started: float, asked_at: dict[str, float], failing: set[str]) -> Times:
    """The times of every photo in the table (this setting's only), `started` the epoch second
    the first POST was sent; `failing`: the photos meant to fail."""
    rows = db.execute_sql(
        "SELECT p.uuid::text, p.status::text, extract(epoch FROM p.queued_at),"
        " extract(epoch FROM p.claimed_at), extract(epoch FROM coalesce(t.created_at, p.updated_at)),"
        " split_part(coalesce(p.failure_reason, ''), ':', 1)"
        # One row per photo: its seed's thumbnail (every rendition has the same created_at,
        # the now() of the statement that completed it).
        " FROM photos p LEFT JOIN photo_thumbnails t ON t.photo_uuid = p.uuid"
        " AND t.preset = 'thumb' AND t.format IN ('jpeg', 'png')"
    ).fetchall()
    times = Times()
    last = started
    for photo_id, status, queued, claimed, ended, code in rows:
        if status == "completed":
            times.completed += 1
            done = float(ended)
            times.asked_to_done.append(done - asked_at[photo_id])
            if queued is not None:
                times.queued_to_done.append(done - float(queued))
                times.early += done < float(queued)
            if claimed is not None:
                times.claimed_to_done.append(done - float(claimed))
        elif status == "failed":
            done = float(ended)
            if photo_id in failing:
                times.failed_meant += 1
            else:
                times.failed_other[code or "unknown"] += 1
        else:
            times.unfinished += 1
            continue
        last = max(last, done)
    times.wall_s = last - started
    return times


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile of `values` (statistics' inclusive method: p50 is the median)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
