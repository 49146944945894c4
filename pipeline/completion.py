"""The database steps that end a photo's rendering: its renditions' rows, its facts, its fingerprint
and its status at once, for a new photo (`complete`) and for a re-render (`replace`)."""

from __future__ import annotations

from uuid import UUID

from peewee import Database, IntegrityError

from models import COMPLETED
from pipeline.renditions import Rendered

# The photo's renditions replace its rows (those of presets or formats no longer made go), its
# facts are written, and it is completed (or stays so, re-rendered): one statement, so a photo
# never has part of one rendering's renditions and part of another's, and the webhook event
# (read at commit) sees them all. {photo} picks the photo, {ending} is the photo's own change.
_RECORD = """
WITH photo AS (SELECT uuid FROM photos WHERE uuid = %(id)s {photo}),
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
UPDATE photos SET rendered_with = %(rendered_with)s, content_sha256 = %(sha256)s,
    content_bytes = %(content_bytes)s,
    original_kept = original_kept AND content_sha256 IS NOT DISTINCT FROM %(sha256)s, {ending}
WHERE uuid = (SELECT photo_uuid FROM written LIMIT 1)
"""
_COMPLETE = _RECORD.format(
    photo="",
    ending="status = %(completed)s, failure_reason = NULL, attempt_open = false, completed_at = now()",
)
# A re-render replaces the renditions of a photo still completed (one deleted, or set back to
# pending meanwhile, is left to what happened to it) and ends its re-render.
_REPLACE = _RECORD.format(
    photo="AND status = %(completed)s",
    ending="rerender_queued_at = NULL, rerender_queued_for = NULL, rerender_attempt_open = false,"
    " rerender_crashes = 0, rerender_failed_with = NULL, rerender_failure = NULL, rerendered_at = now()",
)


def complete(
    db: Database, photo_id: UUID, rendered: Rendered, relpaths: list[str], rendered_with: str, sha256: str
) -> bool:
    """Record the photo's renditions (stored at `relpaths`, in their order, made with the settings
    whose fingerprint is `rendered_with`), its facts and the hash of its source (`sha256`), and
    set it 'completed', in one statement; False if it is gone."""
    return _record(db, _COMPLETE, photo_id, rendered, relpaths, rendered_with, sha256)


def replace(
    db: Database, photo_id: UUID, rendered: Rendered, relpaths: list[str], rendered_with: str, sha256: str
) -> bool:
    """Replace a completed photo's renditions and facts with those of its re-render, in one
    statement that ends the re-render; False if the photo is gone or no longer completed."""
    return _record(db, _REPLACE, photo_id, rendered, relpaths, rendered_with, sha256)


def _record(
    db: Database,
    statement: str,
    photo_id: UUID,
    rendered: Rendered,
    relpaths: list[str],
    rendered_with: str,
    sha256: str,
) -> bool:
    renditions, facts, camera = rendered.renditions, rendered.facts, rendered.facts.camera
    try:
        cursor = db.execute_sql(
            statement,
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
                "rendered_with": rendered_with,
                "sha256": sha256,
                "content_bytes": facts.bytes,
            },
        )
    except IntegrityError:
        return False  # deleted after this statement began: the foreign key refused the row
    return bool(cursor.rowcount)
