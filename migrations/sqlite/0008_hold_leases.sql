-- The node whose live call a held case belongs to. While that node's heartbeat
-- (node_heartbeats) is fresh the case stays held; once it lapses (the node
-- crashed or was cut off) any node's sweeper turns the case into a callback.
ALTER TABLE cases ADD COLUMN held_by TEXT;
CREATE INDEX cases_held_by ON cases (held_by) WHERE mode = 'hold';
