"""How the API shows photos and thumbnails in JSON."""

from __future__ import annotations

from typing import Any

from models import Photo, PhotoThumbnail

THUMBS_ROUTE = "/thumbs"


def photo_summary(photo: Photo) -> dict[str, Any]:
    """The four columns of the seed: uuid, url, status, created_at (ISO 8601)."""
    return {
        "uuid": str(photo.uuid),
        "url": photo.url,
        "status": photo.status,
        "created_at": photo.created_at.isoformat(),
    }


def photo_detail(
    photo: Photo, thumbnails: list[PhotoThumbnail], *, public_base_url: str | None = None
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


def thumbnail_json(thumbnail: PhotoThumbnail, public_base_url: str | None = None) -> dict[str, Any]:
    """A thumbnail row, with `href`, where the API serves the file, and `public_url`, where a CDN
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
