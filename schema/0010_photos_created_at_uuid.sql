-- Keyset pagination of photos of every status, oldest first (GET /photos without ?status=, the
-- dashboard's "all" view). Without it PostgreSQL reads and sorts the whole table for each page:
-- 85 ms at 300,000 rows, growing with the table. The status-first index of 0003 serves only the
-- listings that name one status. Built in the migration's transaction (not CONCURRENTLY), so
-- writes to photos wait while it builds: about a second per million rows here.
CREATE INDEX IF NOT EXISTS photos_created_at_uuid_idx ON photos (created_at, uuid);
