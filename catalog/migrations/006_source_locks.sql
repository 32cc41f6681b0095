-- Who is backing up a source now. A PostgreSQL advisory lock (held by the running step's own connection,
-- so a worker that dies releases it at once) is what keeps two backups of one source apart; this row
-- only says who holds it, for the job that waits or is refused.
CREATE TABLE source_locks (
  key text PRIMARY KEY,
  job_id text,
  runner text,
  since timestamptz NOT NULL DEFAULT now()
);
