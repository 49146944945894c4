"""The database step that completes a photo: its renditions' rows, its facts and its status at once."""

from __future__ import annotations

from uuid import UUID

from peewee import Database, IntegrityError

from models import COMPLETED
from pipeline.renditions import Rendered

# The photo's renditions replace its rows (those of presets or formats no longer made go), its
# facts are written, and it is completed: one statement, so a photo is never completed with
# part of its renditions, and the webhook event (read at commit) sees them all.
_COMPLETE = """
WITH photo AS (SELECT uuid FROM photos WHERE uuid = %(id)s),
made AS (
    SELECT * FROM unnest(%(presets)s::text[], %(formats)s::text[], %(widths)s::int[],
                         %(heights)s::int[], %(bytes)s::int[], %(digests)s::text[], %(urls)s::text[])
        AS m(preset, format, width, height, bytes, digest, url)
),
dropped AS (
    DELETE FROM photo_thumbnails t WHERE t.photo_uuid = %(id)s
    AND NOT EXISTS (SELECT 1 FROM made WHERE made.preset = t.preset AND made.format = t.format)
),
written AS (
    INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, bytes, digest, url)
    SELECT photo.uuid, made.* FROM photo, made
    ON CONFLICT (photo_uuid, preset, format) DO UPDATE SET width = EXCLUDED.width,
        height = EXCLUDED.height, bytes = EXCLUDED.bytes, digest = EXCLUDED.digest,
        url = EXCLUDED.url, created_at = now()
    RETURNING photo_uuid
),
facts AS (
    INSERT INTO photo_facts (photo_uuid, width, height, format, bytes, has_alpha, orientation,
                             taken_at, camera_make, camera_model, thumbhash, dominant_color)
    SELECT uuid, %(width)s, %(height)s, %(format)s, %(source_bytes)s, %(has_alpha)s,
           %(orientation)s, %(taken_at)s, %(make)s, %(model)s, %(thumbhash)s, %(color)s FROM photo
    ON CONFLICT (photo_uuid) DO UPDATE SET width = EXCLUDED.width, height = EXCLUDED.height,
        format = EXCLUDED.format, bytes = EXCLUDED.bytes, has_alpha = EXCLUDED.has_alpha,
        orientation = EXCLUDED.orientation, taken_at = EXCLUDED.taken_at,
        camera_make = EXCLUDED.camera_make, camera_model = EXCLUDED.camera_model,
        thumbhash = EXCLUDED.thumbhash, dominant_color = EXCLUDED.dominant_color, created_at = now()
)
UPDATE photos SET status = %(completed)s, failure_reason = NULL, attempt_open = false
WHERE uuid = (SELECT photo_uuid FROM written LIMIT 1)
"""


def complete(db: Database, photo_id: UUID, rendered: Rendered, relpaths: list[str]) -> bool:
    """Record the photo's renditions (stored at `relpaths`, in their order) and its facts, and
    set it 'completed', in one statement; False if it is gone."""
    renditions, facts, camera = rendered.renditions, rendered.facts, rendered.facts.camera
    try:
        cursor = db.execute_sql(
            _COMPLETE,
            {
                "id": str(photo_id),
                "presets": [r.preset for r in renditions],
                "formats": [r.format.name for r in renditions],
                "widths": [r.width for r in renditions],
                "heights": [r.height for r in renditions],
                "bytes": [len(r.data) for r in renditions],
                "digests": [r.digest for r in renditions],
                "urls": relpaths,
                "width": facts.width,
                "height": facts.height,
                "format": facts.format,
                "source_bytes": facts.bytes,
                "has_alpha": facts.has_alpha,
                "orientation": facts.orientation,
                "taken_at": camera.taken_at,
                "make": camera.camera_make,
                "model": camera.camera_model,
                "thumbhash": rendered.placeholder.thumbhash,
                "color": rendered.placeholder.color,
                "completed": COMPLETED,
            },
        )
    except IntegrityError:
        return False  # deleted after this statement began: the foreign key refused the row
    return bool(cursor.rowcount)
