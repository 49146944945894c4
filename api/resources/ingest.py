"""POST /photos: create photos from their URLs, all or none, and queue them if asked."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, cast

import falcon
from peewee import Database

from api import errors, idempotency, validation
from api.representations import photo_summary
from models import PENDING, Photo
from publishing import Publish, PublishInterrupted, send_all


class AddPhotos:
    """Create photos: a JSON array of {"url": ...}; `?process=true` queues them too."""

    def __init__(self, db: Database, publish: Publish) -> None:
        self._db = db
        self._publish = publish

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        validation.require_json(req)
        urls = validation.parse_new_photos(validation.read_body(req, validation.MAX_NEW_PHOTOS_BODY_BYTES))
        process = bool(req.get_param_as_bool("process", default=False))
        key = idempotency.read_key(req)
        hashed = idempotency.request_hash(urls, process)
        earlier = None
        with self._db.atomic():
            if key is not None:
                earlier = idempotency.take(self._db, key, hashed)
            if earlier is None:
                photos = [photo_summary(photo) for photo in create_photos(self._db, urls)]
                if key is not None:
                    idempotency.record(self._db, key, {"photos": photos})
        if earlier is not None:
            if earlier.request_hash != hashed:
                raise falcon.HTTPUnprocessableEntity(
                    title="Idempotency-Key reused",
                    description="This Idempotency-Key came with another request; use a new key.",
                )
            photos = earlier.response["photos"]
        elif key is not None:
            idempotency.prune(self._db)
        answer: dict[str, Any] = {"photos": photos}
        resp.status = falcon.HTTP_201
        resp.media = answer
        if process:
            self._queue(resp, answer)

    def _queue(self, resp: falcon.Response, answer: dict[str, Any]) -> None:
        """Send the photos still pending and never sent (all of them, unless this is a retry)
        through the confirmed publish; `queued` lists every one whose message the broker took."""
        photo_ids = [photo["uuid"] for photo in answer["photos"]]
        rows = cast(
            Iterable[tuple[str, str, bool]],
            self._db.execute_sql(
                "SELECT uuid::text, status::text, queued_at IS NOT NULL FROM photos"
                " WHERE uuid = ANY(%s::uuid[])",
                (photo_ids,),
            ).fetchall(),
        )
        sent = {photo_id for photo_id, _, queued in rows if queued}
        unsent = {photo_id for photo_id, status, queued in rows if status == PENDING and not queued}
        try:
            sent.update(send_all(self._publish, [p for p in photo_ids if p in unsent]))
        except PublishInterrupted as interrupted:
            sent.update(interrupted.queued)
            queued = [photo_id for photo_id in photo_ids if photo_id in sent]
            errors.answer_interrupted(resp, queued, interrupted.not_queued)
            resp.media["photos"] = answer["photos"]  # created all the same
            return
        answer["queued"] = [photo_id for photo_id in photo_ids if photo_id in sent]


def create_photos(db: Database, urls: list[str]) -> list[Photo]:
    """Insert one pending photo per URL in one statement; return them in the order given."""
    photo_ids = [str(uuid.uuid4()) for _ in urls]
    rows = db.execute_sql(
        "INSERT INTO photos (uuid, url) SELECT * FROM unnest(%s::uuid[], %s::text[])"
        " RETURNING uuid::text, status::text, created_at",
        (photo_ids, urls),
    ).fetchall()
    created = {photo_id: (status, created_at) for photo_id, status, created_at in rows}
    return [
        Photo(uuid=photo_id, url=url, status=created[photo_id][0], created_at=created[photo_id][1])
        for photo_id, url in zip(photo_ids, urls, strict=True)
    ]
