-- What the worker needs to never lose or strand a photo, and to say why one failed.
--   claimed_at      when a worker last claimed the photo; with LEASE_S it tells the reconciler
--                   which 'processing' photos were left by a worker that is gone.
--   attempts        how many times a worker claimed it.
--   failure_reason  why it failed ("code: message"), cleared when it completes.
--   updated_at      when its status or these columns last changed (kept by a trigger).
ALTER TABLE photos
    ADD COLUMN IF NOT EXISTS claimed_at timestamptz,
    ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS failure_reason text,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

CREATE OR REPLACE FUNCTION photos_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS photos_touch_updated_at ON photos;
CREATE TRIGGER photos_touch_updated_at
    BEFORE UPDATE ON photos
    FOR EACH ROW EXECUTE FUNCTION photos_touch_updated_at();

-- The reconciler's scan: photos left in 'processing', by claim time.
CREATE INDEX IF NOT EXISTS photos_processing_claimed_at_idx ON photos (claimed_at)
    WHERE status = 'processing';
