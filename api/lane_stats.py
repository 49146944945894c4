"""Each lane's backlog and rate, for /stats and the dashboard (actors/lanes.py names the lanes).

Read from the photos, not from RabbitMQ: the backlog of the new-photo lane is the photos queued
and not yet done (pending or processing, `queued_at` set), that of the re-render lane the photos
marked queued by `python -m service rerender` and not yet re-rendered; a rate is the photos the
lane finished in the last minute. Each is a count over a partial index of its own (schema/0012),
which holds only those photos: a few milliseconds for thousands, about a tenth of a second for a
backlog of a million.
"""

from __future__ import annotations

from typing import Any

from peewee import Database

RATE_WINDOW_S = 60

_LANES = f"""
SELECT
    (SELECT count(*) FROM photos WHERE status IN ('pending', 'processing') AND queued_at IS NOT NULL),
    (SELECT count(*) FROM photos WHERE completed_at > now() - interval '{RATE_WINDOW_S} seconds'),
    (SELECT count(*) FROM photos WHERE rerender_queued_at IS NOT NULL),
    (SELECT count(*) FROM photos WHERE rerendered_at > now() - interval '{RATE_WINDOW_S} seconds')
"""


def lane_stats(db: Database) -> dict[str, Any]:
    """{"new": {"backlog", "per_minute"}, "rerender": {...}}, in one round trip."""
    new_backlog, new_done, rerender_backlog, rerender_done = db.execute_sql(_LANES).fetchone()
    return {
        "new": {"backlog": int(new_backlog), "per_minute": int(new_done)},
        "rerender": {"backlog": int(rerender_backlog), "per_minute": int(rerender_done)},
    }
