"""The chaos soak's audit (harness/chaos.py): what came out of the faults.

Every photo final (completed, or failed for those meant to), each rendition row's object in
the bucket and no object without a row, no completion logged twice for one photo, and one
event per final state, of that state, delivered (a repeat only as the same event id).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.polling import ConditionTimeout, wait_until

COMPLETED = re.compile(r"photo=(\S+) message_id=\S+ outcome=completed ")
Sql = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


@dataclass
class SoakReport:
    """What the audit found."""

    photos: int = 0
    completed: int = 0
    failed_as_meant: int = 0
    lost: int = 0  # not final, or final other than meant
    stuck: int = 0  # still processing
    # A completion logged twice (a second row of one rendition cannot be: the unique index on
    # photo, preset and format refuses it).
    doubled: int = 0
    orphans: int = 0  # objects without a row, rows without an object
    # Completed photos with no completion in any worker's log: a SIGKILL between the commit and
    # the log line hides one (at most a thread's worth per kill); more says the log count, and
    # so `doubled`, is blind.
    completions_unlogged: int = 0
    events_missing: int = 0
    events_doubled: int = 0  # two event ids for one final state
    longest_still_s: float = 0.0  # the longest from a photo queued to completed
    seconds: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)  # by kind

    def clean(self) -> bool:
        """Nothing lost, stuck, doubled, orphaned or undelivered."""
        hidden_at_most = 2 * self.faults.get("worker_kill", 0)  # 2 threads a worker
        return self.completions_unlogged <= hidden_at_most and not (
            self.lost
            or self.stuck
            or self.doubled
            or self.orphans
            or self.events_missing
            or self.events_doubled
        )


def audit(
    ids: list[str],
    report: SoakReport,
    *,
    sql: Sql,
    meant: dict[str, str],
    worker_logs: list[str],
    stored: set[str],
    delivered: Callable[[], set[str]],
) -> None:
    """Fill `report` with what the database, the workers' logs, the bucket's keys (`stored`) and
    the receiver say of the photos `ids`."""
    report.photos = len(ids)
    rows = sql(
        "SELECT uuid::text, status::text, extract(epoch FROM completed_at - queued_at)"
        " FROM photos WHERE uuid = ANY(%s::uuid[])",
        (ids,),
    )
    completions = Counter(match.group(1) for log in worker_logs for match in COMPLETED.finditer(log))
    report.lost += len(ids) - len(rows)  # a row gone
    for photo_id, status, took in rows:
        report.longest_still_s = max(report.longest_still_s, float(took or 0))
        if status == "processing":
            report.stuck += 1
        elif status != meant[photo_id]:
            report.lost += 1
        elif status == "completed":
            report.completed += 1
            report.completions_unlogged += completions[photo_id] == 0
        else:
            report.failed_as_meant += 1
        if completions[photo_id] > 1:
            report.doubled += 1
    named = {
        url for (url,) in sql("SELECT url FROM photo_thumbnails WHERE photo_uuid = ANY(%s::uuid[])", (ids,))
    }
    report.orphans = len(named ^ stored)
    _audit_events(ids, report, sql, {photo_id: status for photo_id, status, _ in rows}, delivered)


def _audit_events(
    ids: list[str], report: SoakReport, sql: Sql, status: dict[str, str], delivered: Callable[[], set[str]]
) -> None:
    events = sql(
        "SELECT photo_uuid::text, id::text, type FROM webhook_events WHERE photo_uuid = ANY(%s::uuid[])",
        (ids,),
    )
    by_photo: dict[str, list[str]] = {}
    for photo_id, event_id, kind in events:
        if kind == f"photo.{status.get(photo_id)}":  # an event of another state is none of it
            by_photo.setdefault(photo_id, []).append(event_id)
    wanted = {event_id for _, event_id, _ in events}
    with contextlib.suppress(ConditionTimeout):  # what is still missing then is counted below
        wait_until(lambda: wanted <= delivered(), timeout=180, interval=1, message="every event delivered")
    for photo_id in ids:
        count = len(by_photo.get(photo_id, []))
        report.events_missing += count == 0
        report.events_doubled += max(0, count - 1)
    report.events_missing += len(wanted - delivered())
