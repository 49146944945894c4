"""Rows the tests insert and read back."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from peewee import Database

from pipeline import completion
from pipeline.camera_facts import CameraFacts
from pipeline.formats import JPEG
from pipeline.placeholder import Placeholder
from pipeline.renditions import Rendered, Rendition, SourceFacts


def insert_photo(db: Database, url: str = "http://127.0.0.1:9/photo.jpg", status: str = "pending") -> str:
    """Insert a photo row; return its UUID."""
    return str(
        db.execute_sql(
            "INSERT INTO photos (url, status) VALUES (%s, %s) RETURNING uuid", (url, status)
        ).fetchone()[0]
    )


# The renditions of a photo at the default RENDITIONS and RENDITION_FORMATS: sm and thumb, each
# in the base format (JPEG, or PNG with transparency) and WebP.
DEFAULT_RENDITIONS = 4


def photo_row(db: Database, photo_id: str) -> dict[str, Any]:
    """The photo's columns; under "thumbnails" its seed's thumbnail rows (preset `thumb` in the
    base format, JPEG or PNG, or any format for a row made before renditions) as (width, height,
    url), and under "renditions" every row as (preset, format, width, height, url)."""
    cursor = db.execute_sql(
        "SELECT uuid::text, url, status::text, attempts, crashes, attempt_open, failure_reason,"
        " claimed_at, queued_at"
        " FROM photos WHERE uuid = %s",
        (photo_id,),
    )
    names = [column[0] for column in cursor.description]
    row = dict(zip(names, cursor.fetchone(), strict=True))
    row["renditions"] = db.execute_sql(
        "SELECT preset, format, width, height, url FROM photo_thumbnails WHERE photo_uuid = %s"
        " ORDER BY width, preset, format",
        (photo_id,),
    ).fetchall()
    row["thumbnails"] = [
        (width, height, url)
        for preset, fmt, width, height, url in row["renditions"]
        if preset == "thumb" and (fmt in ("jpeg", "png") or "/" not in url[3:])
    ]
    return row


def status_of(db: Database, photo_id: str) -> str:
    """The photo's status."""
    return str(db.execute_sql("SELECT status FROM photos WHERE uuid = %s", (photo_id,)).fetchone()[0])


# The counts by status the triggers keep (schema/0007: as of the last fold, plus the deltas
# since; statuses with none left out), and the same counted over the table: in one statement,
# so that both are of one snapshot even while workers change photos.
KEPT_AND_COUNTED = (
    "SELECT"
    " (SELECT coalesce(json_object_agg(status, n), '{}') FROM (SELECT status, sum(n) AS n FROM"
    " (SELECT status, n FROM photo_counts UNION ALL SELECT status, n FROM photo_count_deltas) d"
    " GROUP BY status HAVING sum(n) <> 0) kept),"
    " (SELECT coalesce(json_object_agg(status, n), '{}') FROM"
    " (SELECT status, count(*) AS n FROM photos GROUP BY status) counted)"
)


def kept_and_counted(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    """The counts the triggers keep, and count(*) by status, of one snapshot."""
    kept, counted = db.execute_sql(KEPT_AND_COUNTED).fetchone()
    return dict(kept), dict(counted)


def one_rendition(*, width: int, height: int, data: bytes = b"\xff\xd8 rendition") -> Rendered:
    """What the image work gives for a photo rendered as one `thumb` JPEG of `data` (tests of the
    database steps, which do not look at pixels)."""
    rendition = Rendition("thumb", JPEG, width, height, data, hashlib.sha256(data).hexdigest())
    facts = SourceFacts(
        width=width * 4,
        height=height * 4,
        format="JPEG",
        bytes=len(data) * 100,
        has_alpha=False,
        orientation=1,
        camera=CameraFacts(taken_at=None, camera_make=None, camera_model=None),
    )
    return Rendered((rendition,), facts, Placeholder("1QcSHQRnh493V4dIh4eXh1h4kJUI", "#808080"), 0.0, 0.0)


def complete_with(
    db: Database, photo_id: str, *, relpath: str, width: int, height: int, rendered_with: str = ""
) -> bool:
    """Complete the photo as the worker does, with one `thumb` JPEG stored at `relpath`, made with
    the settings whose fingerprint is `rendered_with` (none known, by default)."""
    rendition = one_rendition(width=width, height=height)
    # A source of its own: no other photo's duplicate (pipeline/duplicates.py).
    sha256 = hashlib.sha256(photo_id.encode()).hexdigest()
    return completion.complete(db, uuid.UUID(photo_id), rendition, [relpath], rendered_with, sha256)
