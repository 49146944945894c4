-- The webhooks' outbox: one event for every transaction that changes a photo's status into
-- 'completed' or 'failed' (or inserts it so) and commits it in that status, written by a trigger
-- in that transaction, whatever made it (the worker's complete or fail, the claim that fails a
-- photo out of attempts or crashes, an import, SQL by hand). An event therefore exists for every final state that was committed, and
-- none for one that was rolled back. The worker's delivery loop (webhooks/) sends them.
--   id               the event id a receiver dedups on (delivery is at least once)
--   txid             the transaction that wrote it: at most one event per photo and transaction
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
    txid bigint NOT NULL DEFAULT txid_current(),
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
-- The retention prune.
CREATE INDEX IF NOT EXISTS webhook_events_occurred_at_idx ON webhook_events (occurred_at);

-- At most one event per photo and transaction (see the trigger below); also an operator's look
-- at a photo's events.
CREATE UNIQUE INDEX IF NOT EXISTS webhook_events_photo_txid_idx ON webhook_events (photo_uuid, txid);

-- Run at commit (a deferred constraint trigger), so that the event records the photo as the
-- transaction commits it, not as some statement left it on the way: the function reads the row
-- again and writes nothing if it is gone (deleted later in the transaction) or no longer in the
-- status this change put it in (completed, then set back to pending or failed), and builds the
-- snapshot from what it read (claims.complete inserts the thumbnail and sets 'completed' in one
-- statement). A photo changed into the same final state twice in one transaction (completed,
-- pending, completed) queues two calls that both see it completed: the unique (photo_uuid, txid)
-- keeps one event.
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
                'uuid', t.uuid, 'width', t.width, 'height', t.height, 'url', t.url,
                'created_at', t.created_at) ORDER BY t.created_at)
            FROM photo_thumbnails t WHERE t.photo_uuid = photo.uuid), '[]'::jsonb)))
    ON CONFLICT (photo_uuid, txid) DO NOTHING;
    RETURN NULL;
END $$;

-- Row triggers, but the WHEN clause is checked as each row changes, before anything is queued:
-- an update that moves no photo into completed or failed (attempts, queued_at, a bulk reset to
-- pending) costs nothing here. schema/0007's statement-level count triggers are untouched.
-- A photo inserted already completed or failed (an import, a hand-run INSERT) has its event too.
DROP TRIGGER IF EXISTS webhook_events_on_outcome ON photos;
CREATE CONSTRAINT TRIGGER webhook_events_on_outcome
    AFTER UPDATE OF status ON photos
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_events_record();
DROP TRIGGER IF EXISTS webhook_events_on_insert ON photos;
CREATE CONSTRAINT TRIGGER webhook_events_on_insert
    AFTER INSERT ON photos
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed'))
    EXECUTE FUNCTION webhook_events_record();
