"""The reconciler: queues again the photos left in 'processing' with no worker and no message.

How a photo gets stranded: its message was lost (a publish that failed before confirms were on,
a dead-lettered message whose failure could not be recorded because the database was down, a
queue purged by hand). Such a photo sits in 'processing' with nobody holding its lock. Once its
claim and the last message sent for it (a retry, or this reconciler's) are older than LEASE_S,
the reconciler sends a new message. A message that was only waiting behind a long backlog makes
this one a duplicate, which costs little: the worker skips a completed photo and one held by
another, and the claim counts every attempt against the request's budget (`pipeline.claims`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from peewee import Database

from models import PROCESSING
from pipeline import process_requests
from pipeline.locks import SQL_LOCK_KEY, advisory_lock

log = logging.getLogger(__name__)

# Only one reconciler pass at a time across every worker (any constant nobody else uses).
RECONCILER_LOCK_KEY = 0x7265636F6E63696C  # "reconcil"


def reconcile_once(
    db: Database, send: Callable[[str], object], *, lease_s: int, limit: int = 1000
) -> list[UUID]:
    """Queue every stranded photo again; return their UUIDs (none if another pass is running)."""
    with db.connection_context(), advisory_lock(db, RECONCILER_LOCK_KEY) as locked:
        if not locked:
            return []
        found = stranded(db, lease_s=lease_s, limit=limit)
        sent = []
        try:
            for photo_id in found:
                send(str(photo_id))
                sent.append(str(photo_id))
        finally:
            # The lease starts again from each message sent: not stranded before it runs out.
            if sent:
                process_requests.mark_sent(db, sent)
    if found:
        log.warning("Queued %d stranded photos again: %s", len(found), ", ".join(map(str, found[:20])))
    return found


def stranded(db: Database, *, lease_s: int, limit: int = 1000) -> list[UUID]:
    """Photos in 'processing' with no worker and no message: claimed, and sent a message (a
    retry, or the reconciler's), longer than the lease ago, and with a lock nobody holds.

    pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits).
    """
    rows = db.execute_sql(
        "SELECT p.uuid FROM photos p"
        " WHERE p.status = %s AND p.claimed_at < now() - make_interval(secs => %s)"
        " AND (p.queued_at IS NULL OR p.queued_at < now() - make_interval(secs => %s))"
        " AND NOT EXISTS ("
        "   SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1"
        "   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f"   AND ((l.classid::bigint << 32) | l.objid::bigint) = {SQL_LOCK_KEY})"
        " ORDER BY p.claimed_at LIMIT %s",
        (PROCESSING, lease_s, lease_s, limit),
    ).fetchall()
    return [UUID(str(row[0])) for row in rows]


class ReconcilerThread(threading.Thread):
    """Runs the housekeeping steps every `interval_s` until stopped; errors are logged, never
    fatal. Each step on its own: one that fails (the broker down for the reconciler) does not
    keep the others (the database's) from their turn."""

    def __init__(self, steps: dict[str, Callable[[], object]], *, interval_s: float) -> None:
        super().__init__(name="reconciler", daemon=True)
        self._steps = steps
        self._interval_s = interval_s
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self.run_pass()

    def run_pass(self) -> None:
        """Run every step once, in order, whatever the others did."""
        for name, step in self._steps.items():
            try:
                step()
            except Exception:
                log.exception(
                    "Housekeeping step %r failed; the next pass runs in %.0f s.", name, self._interval_s
                )

    def stop(self) -> None:
        self._stopped.set()
