-- What running targets report while they work (bytes read so far, files), so a waiting user sees a backup move.
ALTER TABLE jobs ADD COLUMN live jsonb NOT NULL DEFAULT '{}';
