-- Renditions (issue 19): a photo has one row in photo_thumbnails per preset and format, and one
-- row in photo_facts with its source's facts and its placeholder.
--
-- Every existing row stays valid as it is: today's thumbnail becomes preset 'thumb', in the
-- format its file has (its url is unchanged, so its file is served as before). Its byte count
-- and digest are unknown (NULL) until the photo is processed again. The defaults fill the old
-- rows without rewriting the table (PostgreSQL keeps a constant default in the catalogue); only
-- the WebP rows (photos with transparency, a few percent) are updated. Then the defaults go: a
-- new row names its preset and format.
ALTER TABLE photo_thumbnails
    ADD COLUMN IF NOT EXISTS preset text NOT NULL DEFAULT 'thumb',
    ADD COLUMN IF NOT EXISTS format text NOT NULL DEFAULT 'jpeg',
    ADD COLUMN IF NOT EXISTS bytes integer CHECK (bytes > 0),
    ADD COLUMN IF NOT EXISTS digest text;
UPDATE photo_thumbnails SET format = 'webp' WHERE format = 'jpeg' AND url LIKE '%.webp';
ALTER TABLE photo_thumbnails ALTER COLUMN preset DROP DEFAULT, ALTER COLUMN format DROP DEFAULT;

-- One row per rendition, where there was one per photo.
DROP INDEX IF EXISTS photo_thumbnails_photo_uuid_key;
CREATE UNIQUE INDEX IF NOT EXISTS photo_thumbnails_photo_preset_format_key
    ON photo_thumbnails (photo_uuid, preset, format);

-- What the photo is, read from its source as it was processed: the size upright, the format,
-- the bytes, transparency, the EXIF orientation, when and with what it was taken; its
-- placeholder (a ThumbHash, base64) and dominant colour. No GPS and no other EXIF is kept.
-- taken_at is text: EXIF's DateTimeOriginal is a local time, with an offset only when the
-- camera wrote OffsetTimeOriginal; ISO 8601 keeps that difference, a timestamptz would not.
CREATE TABLE IF NOT EXISTS photo_facts (
    photo_uuid uuid PRIMARY KEY REFERENCES photos (uuid) ON DELETE CASCADE,
    width integer NOT NULL CHECK (width > 0),
    height integer NOT NULL CHECK (height > 0),
    format text NOT NULL,
    bytes bigint NOT NULL CHECK (bytes > 0),
    has_alpha boolean NOT NULL,
    orientation smallint,
    taken_at text,
    camera_make text,
    camera_model text,
    thumbhash text,
    dominant_color text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The webhook event carries the renditions, the facts and the placeholder (schema/0009's
-- function, with the same rules; `thumbnails` keeps its shape, one entry per rendition).
CREATE OR REPLACE FUNCTION webhook_events_record() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    photo photos%ROWTYPE;
BEGIN
    SELECT * INTO photo FROM photos WHERE uuid = NEW.uuid;
    IF NOT FOUND OR photo.status IS DISTINCT FROM NEW.status
            OR photo.status NOT IN ('completed', 'failed') THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (type, photo_uuid, payload)
    VALUES ('photo.' || photo.status::text, photo.uuid, jsonb_build_object(
        'uuid', photo.uuid,
        'url', photo.url,
        'status', photo.status,
        'created_at', photo.created_at,
        'failure_reason', photo.failure_reason,
        'thumbnails', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                'uuid', t.uuid, 'preset', t.preset, 'format', t.format, 'width', t.width,
                'height', t.height, 'bytes', t.bytes, 'digest', t.digest, 'url', t.url,
                'created_at', t.created_at) ORDER BY t.width, t.preset, t.format)
            FROM photo_thumbnails t WHERE t.photo_uuid = photo.uuid), '[]'::jsonb),
        'facts', (SELECT to_jsonb(f) - 'photo_uuid' - 'created_at' FROM photo_facts f
                  WHERE f.photo_uuid = photo.uuid)))
    ON CONFLICT (photo_uuid, txid) DO NOTHING;
    RETURN NULL;
END $$;
