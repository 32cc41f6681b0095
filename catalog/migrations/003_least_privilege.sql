-- Least privilege: a webhook call carries no authority of its own, and the audit log is tamper-evident.

-- The one-time claim a workflow presents to take its job: only a SHA-256 is kept, and it is cleared when used,
-- so a captured webhook call can neither start an unknown job nor replay one that already started.
ALTER TABLE jobs ADD COLUMN claim_hash text;
ALTER TABLE jobs ADD COLUMN claimed_at timestamptz;

-- Each audit row carries a hash chained to the previous row's: an edited or deleted row breaks the chain.
-- Rows written before this migration have no hash; the chain starts at the first row that has one.
ALTER TABLE audit_log ADD COLUMN prev_hash text;
ALTER TABLE audit_log ADD COLUMN hash text;
