-- The original setup's schema: photos with a two-value status. Written to be a no-op on a
-- database that the original setup already made (and that may hold rows).
DO $$
BEGIN
    CREATE TYPE photo_status AS ENUM ('pending', 'completed');
EXCEPTION
    WHEN duplicate_object THEN NULL;
END
$$;

CREATE TABLE IF NOT EXISTS photos (
    uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url text NOT NULL,
    status photo_status NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now()
);
