-- Polite downloads (issue 20): a breaker per source host, shared by every worker of the fleet.
--   failures       consecutive host failures (no connection, no answer in time, 5xx/408/429);
--                  a success resets them.
--   paused_until   set when failures reach HOST_BREAKER_FAILURES (or a probe fails): until
--                  then the host's photos wait, spending no attempt.
--   probe_until    after the pause, the one worker whose UPDATE won the probe downloads one photo
--                  to see whether the host is back; the others keep waiting until it ends.
-- A row exists only for a host that failed at least once.
CREATE TABLE IF NOT EXISTS source_hosts (
    host text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    paused_until timestamptz,
    probe_until timestamptz,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
