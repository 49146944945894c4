"""The same bytes at another URL: a photo whose source hashes like a completed photo's, with
renditions made with the current settings, gets copies of that photo's renditions without a
decode.

Copies, not shared objects: each photo's renditions stay in its own folder, so a DELETE (or a
re-render, or a failure) removes one folder and can never take another photo's objects with
it, whatever the order of events; and rows, URLs and ETags keep meaning what they meant. A copy
costs a read and a write of a few kilobytes per rendition, a small part of a decode and encode
(bench/RESULTS.md, "dedupe"). The renditions of the same bytes and settings are the same bytes
(docs/renditions.md), so a copy is exactly what a decode would have made.

The donor may be deleted or re-rendered while it lends: a rendition it no longer has makes the
borrowing give up (None), and the photo is rendered as any other.
"""

from __future__ import annotations

import hashlib
import logging
from uuid import UUID

from peewee import Database, DatabaseError, InterfaceError

from pipeline.camera_facts import CameraFacts
from pipeline.errors import StorageError
from pipeline.formats import FORMATS
from pipeline.placeholder import Placeholder
from pipeline.renditions import Rendered, Rendition, SourceFacts
from pipeline.storage import ThumbnailStore

log = logging.getLogger(__name__)

_DONOR = """
SELECT p.uuid, f.width, f.height, f.format, f.bytes, f.has_alpha, f.orientation, f.taken_at,
       f.camera_make, f.camera_model, f.thumbhash, f.dominant_color,
       ARRAY(SELECT ARRAY[t.preset, t.format, t.width::text, t.height::text, t.digest, t.url]
             FROM photo_thumbnails t WHERE t.photo_uuid = p.uuid ORDER BY t.width DESC, t.format)
FROM photos p JOIN photo_facts f ON f.photo_uuid = p.uuid
WHERE p.content_sha256 = %(sha256)s AND p.status = 'completed' AND p.rendered_with = %(fingerprint)s
  AND p.uuid <> %(id)s
LIMIT 1
"""


def content_sha256(data: bytes) -> str:
    """The hash a photo's source is known by (hex)."""
    return hashlib.sha256(data).hexdigest()


def borrowed(
    db: Database, store: ThumbnailStore, photo_id: UUID, sha256: str, fingerprint: str
) -> Rendered | None:
    """The renditions of another completed photo with these bytes and settings (`fingerprint`),
    read from the store; None when no photo has them, or the one found lost one meanwhile."""
    params = {"sha256": sha256, "fingerprint": fingerprint, "id": str(photo_id)}
    try:
        row = db.execute_sql(_DONOR, params).fetchone()
    except (DatabaseError, InterfaceError) as error:
        # A saving, not a step: the photo is rendered, and its completion meets the outage.
        log.info("No lookup of a duplicate of %s: %r", photo_id, error)
        return None
    if row is None:
        return None
    _, width, height, fmt, size, has_alpha, orientation, taken_at, make, model, thumbhash, color, rows = row
    renditions = []
    for preset, format_name, r_width, r_height, digest, url in rows:
        try:
            stored = store.read(url)
        except StorageError:
            return None  # the store blinked: render instead; writing will meet it if it lasts
        if stored is None or stored.body is None:
            return None  # deleted or re-rendered since the lookup
        with stored.body as body:
            data = body.read()
        if hashlib.sha256(data).hexdigest() != digest:
            return None  # rewritten meanwhile: not what its row says
        renditions.append(Rendition(preset, FORMATS[format_name], int(r_width), int(r_height), data, digest))
    if not renditions:
        return None
    facts = SourceFacts(width, height, fmt, size, has_alpha, orientation, CameraFacts(taken_at, make, model))
    return Rendered(tuple(renditions), facts, Placeholder(thumbhash, color), 0.0, 0.0)
