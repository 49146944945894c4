"""GET /stats: how many photos are in each status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import falcon
from peewee import fn

from models import STATUSES, Photo


class Stats:
    """Counts by status (every status present, zero included) and the total."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        counts = dict.fromkeys(STATUSES, 0)
        query = Photo.select(Photo.status, fn.COUNT(Photo.uuid)).group_by(Photo.status).tuples()
        for status, count in cast(Iterable[tuple[str, int]], query):
            counts[status] = count
        resp.media = {"counts": counts, "total": sum(counts.values())}
