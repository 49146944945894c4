-- How many photos are in each status, kept in the same transaction as every change of photos,
-- so that /stats and the API's metrics read a few rows instead of counting the whole table.
--   photo_counts        the counts by status, as of the last fold.
--   photo_count_deltas  what each statement since then changed, by status (insert-only).
-- Statement-level triggers with transition tables add one delta row per status a statement
-- changes, whatever its number of rows (a bulk insert of a million photos adds one). Inserting
-- takes no lock another writer waits for: a counter row updated by every change would serialise
-- the workers, and deadlock transactions that change photos in more than one statement.
-- fold_photo_counts() moves the deltas into photo_counts, one fold at a time; a read sums both
-- in one statement (one snapshot), so it is exact whether or not a fold ran.
-- A TRUNCATE of photos zeroes both. Every change of photos, by any client, goes through these
-- triggers (tests compare the counts with count(*) after chaotic batches), unless they are
-- switched off: ALTER TABLE ... DISABLE TRIGGER, session_replication_role = replica, or
-- pg_restore --disable-triggers (restore the schema and data together, or run this file's
-- last statements again to count afresh). A role that writes photos needs INSERT on the deltas.

CREATE TABLE IF NOT EXISTS photo_counts (
    status photo_status PRIMARY KEY,
    n bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS photo_count_deltas (
    status photo_status NOT NULL,
    n bigint NOT NULL
);

CREATE OR REPLACE FUNCTION photo_counts_after_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO photo_count_deltas (status, n) SELECT status, count(*) FROM new_rows GROUP BY status;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION photo_counts_after_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO photo_count_deltas (status, n) SELECT status, -count(*) FROM old_rows GROUP BY status;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION photo_counts_after_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- Rows whose status did not change cancel out; most updates (attempts, queued_at) add nothing.
    INSERT INTO photo_count_deltas (status, n)
    SELECT status, sum(n) FROM (
        SELECT status, 1 AS n FROM new_rows
        UNION ALL
        SELECT status, -1 FROM old_rows
    ) changes GROUP BY status HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION photo_counts_after_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM photo_count_deltas;
    UPDATE photo_counts SET n = 0 WHERE n <> 0;
    RETURN NULL;
END $$;

-- Move deltas into photo_counts, at most 100,000 at a time, so that a backlog never makes a
-- fold outlast the statement timeout (reads stay exact: they sum both tables). One fold at a
-- time (a transaction-level advisory lock; another caller returns at once): two could lock the
-- counts in other orders. A status without a row yet (a value added to the type) gets one.
-- In a read-only transaction (a replica, a read-only role) it does nothing.
CREATE OR REPLACE FUNCTION fold_photo_counts() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_read_only') = 'on' OR NOT pg_try_advisory_xact_lock(7065697346) THEN
        RETURN;
    END IF;
    WITH moved AS (
        DELETE FROM photo_count_deltas
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM photo_count_deltas LIMIT 100000))
        RETURNING status, n
    )
    INSERT INTO photo_counts AS c (status, n)
    SELECT status, sum(n) FROM moved GROUP BY status
    ON CONFLICT (status) DO UPDATE SET n = c.n + EXCLUDED.n;
END $$;

-- No writer may change photos between the count below and the triggers' start.
LOCK TABLE photos IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER IF EXISTS photo_counts_insert ON photos;
DROP TRIGGER IF EXISTS photo_counts_delete ON photos;
DROP TRIGGER IF EXISTS photo_counts_update ON photos;
DROP TRIGGER IF EXISTS photo_counts_truncate ON photos;
CREATE TRIGGER photo_counts_insert AFTER INSERT ON photos
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION photo_counts_after_insert();
CREATE TRIGGER photo_counts_delete AFTER DELETE ON photos
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION photo_counts_after_delete();
CREATE TRIGGER photo_counts_update AFTER UPDATE ON photos
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION photo_counts_after_update();
CREATE TRIGGER photo_counts_truncate AFTER TRUNCATE ON photos
    FOR EACH STATEMENT EXECUTE FUNCTION photo_counts_after_truncate();

-- Every status, counted from the table as it is now.
DELETE FROM photo_count_deltas;
DELETE FROM photo_counts;
INSERT INTO photo_counts (status, n)
SELECT s.status, count(p.uuid)
FROM unnest(enum_range(NULL::photo_status)) AS s(status)
LEFT JOIN photos p ON p.status = s.status
GROUP BY s.status;
