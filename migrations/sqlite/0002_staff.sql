-- Staff accounts, login sessions, case claims and outcomes, and where an audited
-- action came from. Timestamps are UTC text in the fixed-width form of 0001.
CREATE TABLE staff_users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('nurse', 'supervisor')),
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);

-- Only the SHA-256 of a session token is stored: a leaked table logs nobody in.
CREATE TABLE staff_sessions (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    username     TEXT NOT NULL REFERENCES staff_users (username) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at);

ALTER TABLE cases ADD COLUMN claimed_by TEXT;
ALTER TABLE cases ADD COLUMN claimed_at TEXT;
ALTER TABLE cases ADD COLUMN outcome TEXT CHECK (outcome IS NULL OR outcome IN
    ('self_care', 'health_centre', 'emergency_care', 'called_112', 'no_answer', 'other'));
ALTER TABLE cases ADD COLUMN outcome_note TEXT;
ALTER TABLE cases ADD COLUMN closed_at TEXT;

-- From where: the client address of the request that caused the entry.
ALTER TABLE audit_log ADD COLUMN ip TEXT;
