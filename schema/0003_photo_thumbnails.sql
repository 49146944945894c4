-- Seed task 1: one row per thumbnail file; url is the file's path relative to THUMBS_DIR.
CREATE TABLE IF NOT EXISTS photo_thumbnails (
    uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    photo_uuid uuid NOT NULL REFERENCES photos (uuid) ON DELETE CASCADE,
    width smallint NOT NULL CHECK (width > 0),
    height smallint NOT NULL CHECK (height > 0),
    url text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One thumbnail per photo: a duplicate message can never add a second row.
CREATE UNIQUE INDEX IF NOT EXISTS photo_thumbnails_photo_uuid_key ON photo_thumbnails (photo_uuid);

-- Keyset pagination of photos by status, oldest first (GET /photos/pending, GET /photos).
CREATE INDEX IF NOT EXISTS photos_status_created_at_uuid_idx ON photos (status, created_at, uuid);
