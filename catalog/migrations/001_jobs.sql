-- Jobs: one per backup, restore, verify or cleanup request, and what each target step produced.
CREATE TABLE jobs (
  id                text PRIMARY KEY,
  kind              text NOT NULL CHECK (kind IN ('backup', 'restore', 'verify', 'cleanup')),
  type              text CHECK (type IN ('full', 'incremental', 'differential')),
  targets           text[] NOT NULL DEFAULT '{}',
  status            text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  description       text,
  retention_days    integer CHECK (retention_days > 0),
  params            jsonb NOT NULL DEFAULT '{}',
  progress          real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
  error             text,
  n8n_execution_id  text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  finished_at       timestamptz,
  heartbeat_at      timestamptz
);
CREATE INDEX jobs_status_created ON jobs (status, created_at DESC);
CREATE INDEX jobs_created ON jobs (created_at DESC);
CREATE INDEX jobs_execution ON jobs (n8n_execution_id);

CREATE TABLE job_steps (
  id            bigserial PRIMARY KEY,
  job_id        text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  target        text NOT NULL,
  status        text NOT NULL CHECK (status IN ('completed', 'failed')),
  snapshot_id   text,
  bytes_read    bigint,
  bytes_added   bigint,
  bytes_stored  bigint,
  duration_ms   bigint,
  error         text,
  details       jsonb NOT NULL DEFAULT '{}',
  recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_steps_job ON job_steps (job_id);

-- A cache of the repository's snapshot manifests; `catalog rebuild` refills it from the repository.
CREATE TABLE snapshots (
  id          text PRIMARY KEY,
  target      text NOT NULL,
  type        text NOT NULL,
  time        timestamptz NOT NULL,
  hostname    text,
  tags        jsonb NOT NULL DEFAULT '{}',
  paths       jsonb NOT NULL DEFAULT '[]',
  stats       jsonb NOT NULL DEFAULT '{}',
  job_id      text,
  cached_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX snapshots_target_time ON snapshots (target, time DESC);
