-- Retention: when a closed case's personal data (personnummer, callback
-- number, the answers' words, summary, outcome note) and its voice note were
-- deleted (queue.toml `retention_days` after closing). NULL: not yet.
ALTER TABLE cases ADD COLUMN redacted_at TIMESTAMPTZ;
CREATE INDEX cases_retention_due ON cases (closed_at) WHERE redacted_at IS NULL AND closed_at IS NOT NULL;
