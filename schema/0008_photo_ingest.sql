-- POST /photos and DELETE /photos/{uuid} (issue 12).
--
-- idempotency_keys: one row per Idempotency-Key a client sent with POST /photos, inserted in the
-- same transaction as the photos it created, so that two requests with one key cannot both
-- create photos (the primary key decides; the second waits for the first to commit, then finds
-- its row). `request_hash` tells a retry (same body) from a mistake (another body: 422);
-- `response` holds the photos the first request created, answered again to every retry: json,
-- not jsonb, which would reorder each photo's keys and so change the retry's bytes. Kept
-- at least 24 hours: the API deletes older rows, a bounded batch at a time, as it adds new ones.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key text PRIMARY KEY,
    request_hash text NOT NULL,
    response json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- photo_removals: the thumbnails of deleted photos still to be removed from the store. A delete
-- removes the photo's rows and records its UUID here in one transaction; the file or object
-- goes after the commit, then this row. If the API dies or the store fails in between, the
-- worker's housekeeping removes them later: a thumbnail file is never left without a row that
-- names it (its photo's, or this one). No foreign key: the photo is gone.
CREATE TABLE IF NOT EXISTS photo_removals (
    photo_uuid uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS photo_removals_created_at_idx ON photo_removals (created_at);
