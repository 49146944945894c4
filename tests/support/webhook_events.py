"""The outbox rows the webhook tests read back."""

from __future__ import annotations

from typing import Any

from peewee import Database


def events_of(db: Database, photo_id: str) -> list[dict[str, Any]]:
    """The photo's webhook events, oldest first, each row as a dict."""
    cursor = db.execute_sql(
        "SELECT id::text, type, state, attempts, last_error, payload, occurred_at, next_attempt_at"
        " FROM webhook_events WHERE photo_uuid = %s ORDER BY occurred_at, id",
        (photo_id,),
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def final_transitions(db: Database, photo_ids: list[str]) -> dict[str, str]:
    """The status each photo is in now, for the photos that are completed or failed."""
    rows = db.execute_sql(
        "SELECT uuid::text, status::text FROM photos WHERE uuid = ANY(%s::uuid[])"
        " AND status IN ('completed', 'failed')",
        (photo_ids,),
    ).fetchall()
    return {row[0]: row[1] for row in rows}
