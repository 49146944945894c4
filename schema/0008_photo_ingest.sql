-- A placeholder for migration 0008, which the ingest-api branch adds in parallel under this
-- same name (schema/0008_photo_ingest.sql): the numbers must run without a gap
-- (migrations.available_migrations), so this branch cannot apply 0009 without a 0008. When both
-- branches are merged, git reports an add/add conflict on this file: keep the ingest-api
-- branch's content. (A database migrated on this branch alone has recorded 0008 as applied:
-- drop it, or run that 0008 by hand.)
SELECT 1;
