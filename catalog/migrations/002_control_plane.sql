-- The control plane: who may call the API, what they did, the schedules, and each job's log.

-- A restarted job points at the one it replaces.
ALTER TABLE jobs ADD COLUMN restart_of text REFERENCES jobs (id);
CREATE INDEX jobs_targets ON jobs USING gin (targets);
CREATE INDEX jobs_kind_created ON jobs (kind, created_at DESC);
CREATE INDEX job_steps_target_recorded ON job_steps (target, recorded_at DESC) WHERE status = 'completed';

-- Bearer tokens: only a SHA-256 of each is kept; the token itself is shown once.
CREATE TABLE api_tokens (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  token_hash    text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

-- Every mutating call, and every refused one.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  role        text,
  method      text NOT NULL,
  path        text NOT NULL,
  remote      text,
  status      integer NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
  details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- Schedules: each is a published n8n workflow made from the scheduled-backup template.
CREATE TABLE schedules (
  name            text PRIMARY KEY,
  workflow_id     text NOT NULL,
  cron            text NOT NULL,
  type            text NOT NULL CHECK (type IN ('full', 'incremental', 'differential')),
  targets         text[] NOT NULL,
  retention_days  integer CHECK (retention_days > 0),
  params          jsonb NOT NULL DEFAULT '{}',
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- A job's log, line by line (the API mirrors it to data/logs/jobs/<job-id>.log).
CREATE TABLE job_log (
  id       bigserial PRIMARY KEY,
  job_id   text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  at       timestamptz NOT NULL DEFAULT now(),
  level    text NOT NULL CHECK (level IN ('info', 'warn', 'error')),
  message  text NOT NULL
);
CREATE INDEX job_log_job ON job_log (job_id, id);
