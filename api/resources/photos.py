"""Photos: GET /photos/pending, GET and POST /photos, GET and DELETE /photos/{uuid}."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

import falcon
from peewee import Database

from api import validation
from api.pagination import link_next_page, page_params
from api.representations import FACT_COLUMNS, RENDITION_COLUMNS, PhotoRow, photo_detail
from api.resources.ingest import AddPhotos
from models import PENDING, STATUSES, Photo
from pipeline.deletion import delete_photo
from pipeline.storage import ThumbnailStore

# The keyset order of every listing, (created_at, uuid), from photos_status_created_at_uuid_idx.
# The ORDER BY names the table's columns: a bare `uuid` there would be the output column, the
# text, whose order the index does not hold, and PostgreSQL would sort every pending row that
# shares the first one's created_at (all of an import's batch: 130 ms at 100,000 rows).
PENDING_PAGE = (
    "SELECT photos.uuid::text, url, created_at FROM photos WHERE status = %s{after}"
    " ORDER BY photos.created_at, photos.uuid LIMIT %s"
)
AFTER_POSITION = " AND (photos.created_at, photos.uuid) > (%s, %s::uuid)"
# GET /photos: the same order, of one status ({where}) or all; plain tuples for the same reason
# as the pending page (peewee's row objects, and its IN list of the page's ids, cost more than
# the two statements). Columns in the order of PhotoRow.
PHOTO_PAGE = (
    "SELECT photos.uuid::text, url, status::text, created_at, updated_at, queued_at, attempts,"
    " failure_reason FROM photos WHERE {where}{after} ORDER BY photos.created_at, photos.uuid LIMIT %s"
)
RENDITIONS_OF = (
    f"SELECT photo_uuid::text, {', '.join(RENDITION_COLUMNS)}"
    " FROM photo_thumbnails WHERE photo_uuid = ANY(%s::uuid[])"
)
FACTS_OF = (
    f"SELECT photo_uuid::text, {', '.join(FACT_COLUMNS)} FROM photo_facts WHERE photo_uuid = ANY(%s::uuid[])"
)


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
    """Photos of any status (or of one, with ?status=), oldest first, with their thumbnails;
    POST adds photos (`AddPhotos`)."""

    def __init__(self, add: AddPhotos, *, public_base_url: str | None = None) -> None:
        self._add = add
        self._public_base_url = public_base_url

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._add.on_post(req, resp)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = req.get_param("status")
        if status is not None and status not in STATUSES:
            raise falcon.HTTPInvalidParam(f"Must be one of {', '.join(STATUSES)}.", "status")
        limit, after = page_params(req)
        sql = PHOTO_PAGE.format(
            where="true" if status is None else "status = %s", after=AFTER_POSITION if after else ""
        )
        params = (*((status,) if status else ()), *((after[0], str(after[1])) if after else ()), limit + 1)
        database = Photo._meta.database
        rows = [PhotoRow(*row) for row in database.execute_sql(sql, params).fetchall()]
        page = rows[:limit]
        if len(rows) > limit:
            link_next_page(req, resp, limit, page[-1].created_at, page[-1].uuid)
        renditions, facts = of_photos(database, [photo.uuid for photo in page])
        resp.media = [
            photo_detail(
                photo, renditions[photo.uuid], facts.get(photo.uuid), public_base_url=self._public_base_url
            )
            for photo in page
        ]


class PhotoItem:
    """One photo: its status, its failure reason if any, and its thumbnails; DELETE removes it."""

    def __init__(self, db: Database, store: ThumbnailStore, *, public_base_url: str | None = None) -> None:
        self._db = db
        self._store = store
        self._public_base_url = public_base_url

    def on_get(self, req: falcon.Request, resp: falcon.Response, photo_id: str) -> None:
        photo = Photo.get_or_none(Photo.uuid == _checked_uuid(photo_id))
        if photo is None:
            raise _not_found(photo_id)
        key = str(photo.uuid)
        renditions, facts = of_photos(self._db, [key])
        resp.media = photo_detail(
            photo, renditions[key], facts.get(key), public_base_url=self._public_base_url
        )

    def on_delete(self, req: falcon.Request, resp: falcon.Response, photo_id: str) -> None:
        """Delete the photo, its thumbnail row and file (`pipeline.deletion`): 204, or 409 while
        a worker processes it."""
        outcome = delete_photo(self._db, self._store, UUID(_checked_uuid(photo_id)))
        if outcome == "not_found":
            raise _not_found(photo_id)
        if outcome == "busy":
            raise falcon.HTTPConflict(
                title="Photo being processed",
                description="A worker is processing this photo now; try again once it is done.",
            )
        resp.status = falcon.HTTP_204


def of_photos(
    database: Database, photo_ids: list[str]
) -> tuple[defaultdict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The rendition rows and the facts row of each photo, by photo UUID (two statements)."""
    renditions: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    facts: dict[str, dict[str, Any]] = {}
    if photo_ids:
        for row in database.execute_sql(RENDITIONS_OF, (photo_ids,)).fetchall():
            renditions[row[0]].append(dict(zip(RENDITION_COLUMNS, row[1:], strict=True)))
        for row in database.execute_sql(FACTS_OF, (photo_ids,)).fetchall():
            facts[row[0]] = dict(zip(FACT_COLUMNS, row[1:], strict=True))
    return renditions, facts


def _checked_uuid(photo_id: str) -> str:
    """The photo UUID of the path, lower-cased; 400 when it is not one."""
    if not validation.UUID_PATTERN.fullmatch(photo_id):
        raise falcon.HTTPBadRequest(
            title="Invalid photo UUID", description=f"{photo_id[:64]!r} is not a photo UUID."
        )
    return photo_id.lower()


def _not_found(photo_id: str) -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(title="Photo not found", description=f"No photo has UUID {photo_id}.")
