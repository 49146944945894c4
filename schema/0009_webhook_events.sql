-- The webhooks' outbox: one event for every change of a photo's status into 'completed' or
-- 'failed', written by a trigger in the same transaction as that change, whatever made it (the
-- worker's complete or fail, the claim that fails a photo out of attempts or crashes, a SQL
-- UPDATE by hand). An event therefore exists for every final state that was committed, and
-- none for one that was rolled back. The worker's delivery loop (webhooks/) sends them.
--   id               the event id a receiver dedups on (delivery is at least once)
--   photo_uuid       no foreign key: deleting a photo never waits for, or takes, its events,
--                    which carry their own snapshot of the photo in payload
--   payload          the photo as it was: uuid, url, status, created_at, failure_reason and its
--                    thumbnails (uuid, width, height, url, created_at)
--   state            pending (to send), delivered (a 2xx), dead (given up, last_error says why)
--   attempts         deliveries tried; next_attempt_at: when the next may start (also the lease
--                    of a delivery in flight: a sender that dies leaves it due again)
-- The trigger writes whether or not WEBHOOK_URL is set; the delivery loop deletes events older
-- than WEBHOOK_RETENTION_S (delivered or dead ones; all of them when no URL is set), so the
-- table stays bounded.
CREATE TABLE IF NOT EXISTS webhook_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type text NOT NULL CHECK (type IN ('photo.completed', 'photo.failed')),
    photo_uuid uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    finished_at timestamptz
);

-- The delivery loop's claim: due pending events, soonest first.
CREATE INDEX IF NOT EXISTS webhook_events_due_idx ON webhook_events (next_attempt_at)
    WHERE state = 'pending';
-- The retention prune, and an operator's look at a photo's events.
CREATE INDEX IF NOT EXISTS webhook_events_occurred_at_idx ON webhook_events (occurred_at);
CREATE INDEX IF NOT EXISTS webhook_events_photo_uuid_idx ON webhook_events (photo_uuid);

-- Run at commit (a deferred constraint trigger), so the snapshot sees every row the transaction
-- wrote: claims.complete inserts the thumbnail and sets 'completed' in one statement.
CREATE OR REPLACE FUNCTION webhook_events_record() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (type, photo_uuid, payload)
    VALUES ('photo.' || NEW.status::text, NEW.uuid, jsonb_build_object(
        'uuid', NEW.uuid,
        'url', NEW.url,
        'status', NEW.status,
        'created_at', NEW.created_at,
        'failure_reason', NEW.failure_reason,
        'thumbnails', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                'uuid', t.uuid, 'width', t.width, 'height', t.height, 'url', t.url,
                'created_at', t.created_at) ORDER BY t.created_at)
            FROM photo_thumbnails t WHERE t.photo_uuid = NEW.uuid), '[]'::jsonb)));
    RETURN NULL;
END $$;

-- A row trigger, but the WHEN clause is checked as each row changes, before anything is queued:
-- an update that moves no photo into completed or failed (attempts, queued_at, a bulk reset to
-- pending) costs nothing here. schema/0007's statement-level count triggers are untouched.
DROP TRIGGER IF EXISTS webhook_events_on_outcome ON photos;
CREATE CONSTRAINT TRIGGER webhook_events_on_outcome
    AFTER UPDATE OF status ON photos
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_events_record();
