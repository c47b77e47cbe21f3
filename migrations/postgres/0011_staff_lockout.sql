-- Failed sign-ins per account and per client address (issue 10): enough
-- failures within a window lock the key for a while, longer each time; a
-- supervisor can lift a lock. Kept in the database so every node sees it.
CREATE TABLE auth_lockouts (
    kind         TEXT NOT NULL CHECK (kind IN ('account', 'address')),
    name         TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    lockouts     INTEGER NOT NULL DEFAULT 0,
    last_failure TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ,
    PRIMARY KEY (kind, name)
);

-- Sessions end after a configurable idle time as well as at expires_at.
ALTER TABLE staff_sessions ADD COLUMN last_seen_at TIMESTAMPTZ;
