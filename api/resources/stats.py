"""GET /stats: how many photos are in each status; with ?since=, how a batch is getting on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import falcon
from peewee import fn

from api.lane_stats import lane_stats
from models import Photo, counts_and_clock, db
from pipeline.host_breaker import paused_hosts


class Stats:
    """Counts by status (every status present, zero included), the total, the server's clock,
    and each lane's backlog and rate (api/lane_stats.py).

    With `since` (a timestamp, e.g. an earlier answer's `now`): of the photos queued since then,
    how many are done. A photo is done once completed, or once failed after a worker claimed it
    since it was last queued (a failed photo sent again is not done until it is tried again).
    That is how the dashboard follows a batch of 100,000 photos without listing them.
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        since = _timestamp(req.get_param("since"))
        counts, now = counts_and_clock()
        body: dict[str, Any] = {
            "counts": counts,
            "total": sum(counts.values()),
            "now": now.isoformat(),
            "lanes": lane_stats(db),
            "paused_hosts": paused_hosts(db),
        }
        if since is not None:
            row = (
                Photo.select(
                    fn.COUNT(Photo.uuid),
                    fn.COUNT(Photo.uuid).filter(Photo.status == "completed"),
                    fn.COUNT(Photo.uuid).filter(
                        (Photo.status == "failed") & (Photo.claimed_at >= Photo.queued_at)
                    ),
                )
                .where(Photo.queued_at >= since)
                .tuples()
                .get()
            )
            queued, completed, failed = cast(tuple[int, int, int], row)
            body["since"] = {"queued": queued, "completed": completed, "failed": failed}
        resp.media = body


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC: PostgreSQL refuses some offsets Python accepts (up to ±24 h).
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise falcon.HTTPInvalidParam("Must be an ISO 8601 timestamp with a time zone.", "since") from None
