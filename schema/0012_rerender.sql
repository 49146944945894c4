-- Re-rendering (issue 20): what each photo's renditions were made with, and the state of its
-- re-render, kept on the photo so that finding the photos to re-render is an index range scan.
--   rendered_with          the fingerprint of the settings its renditions were made with
--                          (pipeline/render_settings.py); '' for photos completed before it was
--                          recorded: their settings are unknown, so the first rerender run
--                          renders them again.
--   rerender_queued_at     when a re-render message was last sent for it, cleared when the
--                          re-render ends: the re-render lane's backlog, and what a second run
--                          of the command skips.
--   rerender_queued_for    the fingerprint that run wanted: a run with newer settings queues
--                          the photo again rather than trust a message for the old ones.
--   rerender_attempt_open  a worker began re-rendering it and has not ended: found set at the
--                          next claim, that attempt crashed (counted in rerender_crashes).
--   rerender_failed_with   the fingerprint a re-render failed for good with (its reason in
--                          rerender_failure): the photo keeps its renditions, and later runs
--                          for the same settings leave it out unless asked (--retry-failed).
--   completed_at, rerendered_at  when it was last completed, and last re-rendered: each lane's
--                          rate over the last minute, for /stats and the dashboard.
-- The constant defaults cost no table rewrite.
ALTER TABLE photos
    ADD COLUMN IF NOT EXISTS rendered_with text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS rerender_queued_at timestamptz,
    ADD COLUMN IF NOT EXISTS rerender_queued_for text,
    ADD COLUMN IF NOT EXISTS rerender_attempt_open boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS rerender_crashes integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS rerender_failed_with text,
    ADD COLUMN IF NOT EXISTS rerender_failure text,
    ADD COLUMN IF NOT EXISTS completed_at timestamptz,
    ADD COLUMN IF NOT EXISTS rerendered_at timestamptz;

-- The rerender command's scan: completed photos by fingerprint, two ranges around the current one.
CREATE INDEX IF NOT EXISTS photos_completed_rendered_with_idx ON photos (rendered_with, uuid)
    WHERE status = 'completed';
-- The re-render lane's backlog, counted for /stats and the dashboard.
CREATE INDEX IF NOT EXISTS photos_rerender_queued_idx ON photos (rerender_queued_at)
    WHERE rerender_queued_at IS NOT NULL;
-- The new-photo lane's backlog: photos queued and not done yet.
CREATE INDEX IF NOT EXISTS photos_new_lane_queued_idx ON photos (queued_at)
    WHERE status IN ('pending', 'processing') AND queued_at IS NOT NULL;
-- Each lane's rate: a range of the last minute.
CREATE INDEX IF NOT EXISTS photos_completed_at_idx ON photos (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS photos_rerendered_at_idx ON photos (rerendered_at) WHERE rerendered_at IS NOT NULL;

-- A third event type: a completed photo's renditions were replaced by a re-render.
ALTER TABLE webhook_events DROP CONSTRAINT IF EXISTS webhook_events_type_check;
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_type_check
    CHECK (type IN ('photo.completed', 'photo.failed', 'photo.renditions_changed'));

-- The event's snapshot of a photo, one function for every event type (schema/0011's payload).
CREATE OR REPLACE FUNCTION webhook_photo_payload(photo photos) RETURNS jsonb
    LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
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
                  WHERE f.photo_uuid = photo.uuid))
$$;

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
    VALUES ('photo.' || photo.status::text, photo.uuid, webhook_photo_payload(photo))
    ON CONFLICT (photo_uuid, txid) DO NOTHING;
    RETURN NULL;
END $$;

-- Run at commit like the others (schema/0009): a re-render that committed while the photo is
-- still completed, with the fingerprint it wrote, has its event; one undone in the same
-- transaction (the photo deleted, or set back to pending) has none.
CREATE OR REPLACE FUNCTION webhook_events_record_renditions() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    photo photos%ROWTYPE;
BEGIN
    SELECT * INTO photo FROM photos WHERE uuid = NEW.uuid;
    IF NOT FOUND OR photo.status <> 'completed' OR photo.rendered_with IS DISTINCT FROM NEW.rendered_with THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (type, photo_uuid, payload)
    VALUES ('photo.renditions_changed', photo.uuid, webhook_photo_payload(photo))
    ON CONFLICT (photo_uuid, txid) DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS webhook_events_on_rerender ON photos;
CREATE CONSTRAINT TRIGGER webhook_events_on_rerender
    AFTER UPDATE OF rendered_with ON photos
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (OLD.status = 'completed' AND NEW.status = 'completed'
          AND OLD.rendered_with IS DISTINCT FROM NEW.rendered_with)
    EXECUTE FUNCTION webhook_events_record_renditions();
