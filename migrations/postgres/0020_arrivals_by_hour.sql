-- The arrival profile counts cases per hour over past weeks (and the queue
-- snapshot counts the last hours): a range on registered_at, not a scan.
CREATE INDEX IF NOT EXISTS cases_registered_at ON cases (registered_at);
