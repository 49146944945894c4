-- A placeholder for migration 0008, which another branch (the ingestion API) adds in parallel:
-- the numbers must run without a gap (migrations.available_migrations). Delete this file when
-- that branch's 0008 is merged beside it (two files numbered 0008 fail every migration, loudly).
SELECT 1;
