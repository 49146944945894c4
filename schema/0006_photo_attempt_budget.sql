-- What bounds the work one request to process a photo may cost, counted where every worker on
-- every machine sees it (the claim statement, pipeline/claims.py):
--   attempt_open  a worker claimed the photo and its attempt has not ended yet: no thumbnail, no
--                 recorded error. Found still set at the next claim, the attempt crashed (the
--                 worker was killed, ran out of memory, or a decoder took it down).
--   crashes       how many attempts crashed; at MAX_CRASHES the photo fails instead of taking
--                 the worker down again.
--   spared        how many attempts tried nothing of the source (our storage was down, or our
--                 own worker stopped and cut the download): they do not count against RETRY_MAX.
-- attempts, crashes and spared start again from 0 when the photo is posted for processing again.
ALTER TABLE photos
    ADD COLUMN IF NOT EXISTS attempt_open boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS crashes integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS spared integer NOT NULL DEFAULT 0;
