-- The source's bytes, by hash (issue 20): duplicates found without a decode, and originals kept.
--   content_sha256  the sha256 (hex) of the source's bytes, recorded as the photo completes;
--                   a completed photo with the same hash and the current settings lends its
--                   renditions to another with those bytes (pipeline/duplicates.py).
--   content_bytes   their size.
--   original_kept   the source is in the store at originals/<content_sha256> (KEEP_ORIGINALS).
-- An original is one object for every photo with its bytes: a delete removes it only when no
-- photo has that hash any more (pipeline/deletion.py), and photo_removals remembers it meanwhile.
ALTER TABLE photos
    ADD COLUMN IF NOT EXISTS content_sha256 text,
    ADD COLUMN IF NOT EXISTS content_bytes bigint,
    ADD COLUMN IF NOT EXISTS original_kept boolean NOT NULL DEFAULT false;

-- A duplicate's lookup, and a delete's "does another photo have these bytes".
CREATE INDEX IF NOT EXISTS photos_content_sha256_idx ON photos (content_sha256)
    WHERE content_sha256 IS NOT NULL;

ALTER TABLE photo_removals ADD COLUMN IF NOT EXISTS original_sha256 text;
