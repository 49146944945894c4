"""How the API shows photos and thumbnails in JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, Protocol

from models import Photo, PhotoThumbnail
from pipeline.storage import THUMBS_ROUTE


class PhotoFields(Protocol):
    """What photo_summary reads of a photo: a Photo or a PhotoRow."""

    @property
    def uuid(self) -> Any: ...
    @property
    def url(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class PhotoRow(NamedTuple):
    """A photo's columns as GET /photos reads them, without building peewee's row objects."""

    uuid: str
    url: str
    status: str
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None
    attempts: int
    failure_reason: str | None


class ThumbnailRow(NamedTuple):
    """A thumbnail row's columns, as PhotoThumbnail has them."""

    uuid: str
    width: int
    height: int
    url: str
    created_at: datetime


def photo_summary(photo: PhotoFields) -> dict[str, Any]:
    """The four columns of the seed: uuid, url, status, created_at (ISO 8601)."""
    return {
        "uuid": str(photo.uuid),
        "url": photo.url,
        "status": photo.status,
        "created_at": photo.created_at.isoformat(),
    }


def photo_detail(
    photo: Photo | PhotoRow,
    thumbnails: list[PhotoThumbnail] | list[ThumbnailRow],
    *,
    public_base_url: str | None = None,
) -> dict[str, Any]:
    """A photo with its processing state and its thumbnails."""
    return {
        **photo_summary(photo),
        "updated_at": photo.updated_at.isoformat(),
        "queued_at": photo.queued_at.isoformat() if photo.queued_at else None,
        "attempts": photo.attempts,
        "failure_reason": photo.failure_reason,
        "thumbnails": [thumbnail_json(thumbnail, public_base_url) for thumbnail in thumbnails],
    }


def thumbnail_json(
    thumbnail: PhotoThumbnail | ThumbnailRow, public_base_url: str | None = None
) -> dict[str, Any]:
    """A thumbnail (a PhotoThumbnail or a ThumbnailRow), with `href`, where the API serves the file, and `public_url`, where a CDN
    does (THUMBS_PUBLIC_BASE_URL), if one does."""
    return {
        "uuid": str(thumbnail.uuid),
        "width": thumbnail.width,
        "height": thumbnail.height,
        "url": thumbnail.url,
        "href": f"{THUMBS_ROUTE}/{thumbnail.url}",
        "public_url": f"{public_base_url.rstrip('/')}/{thumbnail.url}" if public_base_url else None,
        "created_at": thumbnail.created_at.isoformat(),
    }
