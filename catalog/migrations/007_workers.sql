-- n8n workers of queue mode, on this host or others: each host's stack reports its own every few
-- seconds, so /health and status list every worker, alive or silent, wherever it runs.
CREATE TABLE workers (
  name text PRIMARY KEY,
  host text NOT NULL,
  alive boolean NOT NULL,
  health_url text,
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
