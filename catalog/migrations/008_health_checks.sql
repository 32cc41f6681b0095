-- What the monitor found each time it looked (the BackupHealth node): the web console's alerts, and
-- a record of when a problem began. A few hundred rows at most: older ones go as new ones come.
CREATE TABLE health_checks (
  id          bigserial PRIMARY KEY,
  checked_at  timestamptz NOT NULL DEFAULT now(),
  ok          boolean NOT NULL,
  problems    jsonb NOT NULL DEFAULT '[]'
);
