"""The outbox table's statements: claim the events due, record a delivery, a failure, prune.

A claimed event is leased, not locked: the claim commits at once with `next_attempt_at` moved
past the delivery's longest time, so no row lock is held across an HTTP request, and an event
whose sender died (killed worker) is simply due again when its lease runs out. Claims take rows
with SKIP LOCKED, so any number of worker processes on any number of hosts share the work.

A claim's `attempts` is its token: a result is recorded only while the row still has the
attempts of the claim it came from, so a sender whose lease ran out (and whose event another
worker claimed since) can neither move the other's lease nor mark dead an event it delivered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import Database

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# Rows one prune statement deletes: a backlog never makes one outlast the statement timeout.
PRUNE_CHUNK = 5000


@dataclass(frozen=True)
class Event:
    """One event to send: its id, type, when its photo's outcome was committed, the photo."""

    id: UUID
    type: str
    occurred_at: datetime
    photo: dict[str, Any]
    attempts: int  # this delivery included; also the claim's token


def claim_due(db: Database, *, limit: int, lease_s: float) -> list[Event]:
    """Take up to `limit` due events, soonest first, leased for `lease_s` seconds."""
    rows = db.execute_sql(
        "UPDATE webhook_events e SET attempts = e.attempts + 1,"
        " next_attempt_at = now() + make_interval(secs => %s)"
        " FROM (SELECT id FROM webhook_events WHERE state = %s AND next_attempt_at <= now()"
        "       ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) due"
        " WHERE e.id = due.id"
        " RETURNING e.id, e.type, e.occurred_at, e.payload, e.attempts",
        (lease_s, PENDING, limit),
    ).fetchall()
    return [Event(UUID(str(row[0])), row[1], row[2], row[3], row[4]) for row in rows]


def delivered(db: Database, event: Event) -> bool:
    """Record that the receiver took the event (a 2xx); False if the claim was no longer ours."""
    cursor = db.execute_sql(
        "UPDATE webhook_events SET state = %s, finished_at = now(), last_error = NULL"
        " WHERE id = %s AND attempts = %s AND state = %s",
        (DELIVERED, str(event.id), event.attempts, PENDING),
    )
    return bool(cursor.rowcount)


def failed(db: Database, event: Event, error: str, *, give_up_after_s: int, max_backoff_s: int) -> str | None:
    """Record a failed delivery: due again after a backoff, or dead past the give-up time.

    The backoff doubles from 1 s up to `max_backoff_s`, jittered (half to all of it) so that the
    events of an outage do not all come back at once; the last try is at the give-up time itself.
    Returns the event's state now (PENDING or DEAD), or None if the claim was no longer ours.
    """
    backoff = min(float(max_backoff_s), 2.0 ** min(event.attempts - 1, 30))
    delay = random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter, not a secret)
    give_up = "occurred_at + make_interval(secs => %(give_up)s)"
    row = db.execute_sql(
        "UPDATE webhook_events SET last_error = %(error)s,"
        f" state = CASE WHEN now() >= {give_up} THEN %(dead)s ELSE state END,"
        f" finished_at = CASE WHEN now() >= {give_up} THEN now() END,"
        f" next_attempt_at = least(now() + make_interval(secs => %(delay)s), {give_up})"
        " WHERE id = %(id)s AND attempts = %(attempts)s AND state = %(pending)s RETURNING state",
        {
            "error": error[:2000],
            "dead": DEAD,
            "give_up": give_up_after_s,
            "delay": delay,
            "id": str(event.id),
            "attempts": event.attempts,
            "pending": PENDING,
        },
    ).fetchone()
    return str(row[0]) if row else None


def release(db: Database, events: list[Event]) -> None:
    """Make leased events due at once again: their deliveries were cut (the worker stopping)."""
    if events:
        db.execute_sql(
            "UPDATE webhook_events e SET next_attempt_at = now()"
            " FROM unnest(%s::uuid[], %s::int[]) AS ours(id, attempts)"
            " WHERE e.id = ours.id AND e.attempts = ours.attempts AND e.state = %s",
            ([str(event.id) for event in events], [event.attempts for event in events], PENDING),
        )


def prune(db: Database, *, retention_s: int, pending_too: bool) -> int:
    """Delete finished events (and pending ones, when `pending_too`) older than `retention_s`."""
    states = [DELIVERED, DEAD, PENDING] if pending_too else [DELIVERED, DEAD]
    total = 0
    for _ in range(20):  # at most 100,000 rows a pass; the next pass goes on
        cursor = db.execute_sql(
            "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events"
            " WHERE occurred_at < now() - make_interval(secs => %s) AND state = ANY(%s)"
            " LIMIT %s FOR UPDATE SKIP LOCKED)",
            (retention_s, states, PRUNE_CHUNK),
        )
        total += cursor.rowcount
        if cursor.rowcount < PRUNE_CHUNK:
            break
    return total
