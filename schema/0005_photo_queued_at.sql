-- When a message for the photo was last confirmed by the broker (by the API or
-- `python -m service process-pending`). Lets a second bulk run skip photos whose message is
-- still waiting in the queue, and tells an operator how long a pending photo has waited.
ALTER TABLE photos ADD COLUMN IF NOT EXISTS queued_at timestamptz;

-- GET /stats?since=: the photos queued since a moment (the dashboard's batch progress).
CREATE INDEX IF NOT EXISTS photos_queued_at_idx ON photos (queued_at);
