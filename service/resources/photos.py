"""Reading photos: GET /photos/pending, GET /photos and GET /photos/{uuid}."""

from __future__ import annotations

from collections import defaultdict

import falcon

from models import PENDING, STATUSES, Photo, PhotoThumbnail
from service import validation
from service.pagination import keyset_page, link_next_page, page_params
from service.representations import photo_detail

# The keyset order of every listing (models.after_position), written out: photos_status_created_at_uuid_idx.
PENDING_PAGE = (
    "SELECT uuid::text, url, created_at FROM photos WHERE status = %s{after}"
    " ORDER BY created_at, uuid LIMIT %s"
)
AFTER_POSITION = " AND (created_at, uuid) > (%s, %s::uuid)"


class PendingPhotos:
    """Pending photos, oldest first, a page at a time (the seed's four fields)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = page_params(req)
        # The endpoint a client polls: one statement of its own and plain tuples, because at a
        # page of 100 building peewee's row objects cost more than PostgreSQL's index scan.
        sql = PENDING_PAGE.format(after=AFTER_POSITION if after else "")
        params = (PENDING, *((after[0], str(after[1])) if after else ()), limit + 1)
        rows = Photo._meta.database.execute_sql(sql, params).fetchall()
        page = rows[:limit]
        if len(rows) > limit:
            link_next_page(req, resp, limit, page[-1][2], page[-1][0])
        resp.media = [
            {"uuid": uuid, "url": url, "status": PENDING, "created_at": created_at.isoformat()}
            for uuid, url, created_at in page
        ]


class PhotoList:
    """Photos of any status (or of one, with ?status=), oldest first, with their thumbnails."""

    def __init__(self, *, public_base_url: str | None = None) -> None:
        self._public_base_url = public_base_url

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = req.get_param("status")
        if status is not None and status not in STATUSES:
            raise falcon.HTTPInvalidParam(f"Must be one of {', '.join(STATUSES)}.", "status")
        query = Photo.select()
        if status is not None:
            query = query.where(Photo.status == status)
        page = keyset_page(req, resp, query)
        thumbnails = defaultdict(list)
        if page:
            for thumbnail in PhotoThumbnail.select().where(PhotoThumbnail.photo.in_([p.uuid for p in page])):
                thumbnails[thumbnail.photo_uuid].append(thumbnail)
        resp.media = [
            photo_detail(photo, thumbnails[photo.uuid], public_base_url=self._public_base_url)
            for photo in page
        ]


class PhotoItem:
    """One photo: its status, its failure reason if any, and its thumbnails."""

    def __init__(self, *, public_base_url: str | None = None) -> None:
        self._public_base_url = public_base_url

    def on_get(self, req: falcon.Request, resp: falcon.Response, photo_id: str) -> None:
        if not validation.UUID_PATTERN.fullmatch(photo_id):
            raise falcon.HTTPBadRequest(
                title="Invalid photo UUID", description=f"{photo_id[:64]!r} is not a photo UUID."
            )
        photo = Photo.get_or_none(Photo.uuid == photo_id.lower())
        if photo is None:
            raise falcon.HTTPNotFound(title="Photo not found", description=f"No photo has UUID {photo_id}.")
        thumbnails = list(PhotoThumbnail.select().where(PhotoThumbnail.photo == photo.uuid))
        resp.media = photo_detail(photo, thumbnails, public_base_url=self._public_base_url)
