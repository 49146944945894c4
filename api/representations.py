"""How the API shows photos in JSON (their renditions and facts: pipeline/rendition_json.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from models import Photo
from pipeline.rendition_json import FACT_FIELDS, facts_json, renditions_json


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


# The columns of a rendition row and of a facts row as the API reads them (dicts by these names).
RENDITION_COLUMNS = ("uuid", "preset", "format", "width", "height", "bytes", "digest", "url", "created_at")
FACT_COLUMNS = (*FACT_FIELDS, "thumbhash", "dominant_color")


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
    renditions: Sequence[Mapping[str, Any]],
    facts: Mapping[str, Any] | None,
    *,
    public_base_url: str | None = None,
) -> dict[str, Any]:
    """A photo with its processing state, its renditions (the seed's `thumbnails` among them),
    its placeholder and its source's facts."""
    return {
        **photo_summary(photo),
        "updated_at": photo.updated_at.isoformat(),
        "queued_at": photo.queued_at.isoformat() if photo.queued_at else None,
        "attempts": photo.attempts,
        "failure_reason": photo.failure_reason,
        **renditions_json(renditions, public_base_url),
        **facts_json(facts),
    }
