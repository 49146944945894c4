-- Seed task 1: the statuses 'processing' and 'failed'. A new enum value cannot be used in the
-- transaction that added it (error 55P04), so this file adds them and nothing else; the files
-- after it, each in a transaction of its own, may use them.
ALTER TYPE photo_status ADD VALUE IF NOT EXISTS 'processing' AFTER 'pending';
ALTER TYPE photo_status ADD VALUE IF NOT EXISTS 'failed' AFTER 'completed';
