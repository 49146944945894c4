"""POST /photos/process: one message per eligible photo, confirmed by the broker."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import falcon

from api import validation
from models import COMPLETED, FAILED, PENDING, PROCESSING, Photo
from pipeline import process_requests
from pipeline.uuid_array import UuidArray
from publishing import Publish, send_all

# Photos in these states are queued; the others are skipped with their status as the reason.
ELIGIBLE = frozenset({PENDING, FAILED})


class EnqueuePhotos:
    """Queue photos for processing: POST /photos/process."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        validation.require_json(req)
        photo_ids = validation.parse_photo_ids(validation.read_body(req))
        statuses = _statuses(photo_ids)
        eligible = [photo_id for photo_id in photo_ids if statuses.get(photo_id) in ELIGIBLE]
        skipped = [
            {"uuid": photo_id, "reason": _skip_reason(statuses.get(photo_id))}
            for photo_id in photo_ids
            if statuses.get(photo_id) not in ELIGIBLE
        ]
        queued = send_all(self._publish, eligible)
        resp.status = falcon.HTTP_202
        resp.media = {"queued": queued, "skipped": skipped}


def _statuses(photo_ids: list[str]) -> dict[str, str]:
    """The status of each photo that exists, looked up by key (pipeline/claims.py says why so)."""
    cursor = Photo._meta.database.execute_sql(
        f"SELECT photos.uuid::text, status::text FROM photos WHERE {process_requests.BY_KEY}",
        (UuidArray(photo_ids),),
    )
    return dict(cast(Iterable[tuple[str, str]], cursor.fetchall()))


def _skip_reason(status: str | None) -> str:
    if status is None:
        return "not_found"
    return COMPLETED if status == COMPLETED else PROCESSING
