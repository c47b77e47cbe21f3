-- review_reason 'repeated_red_flags': a number whose red-flag calls keep
-- ending before a nurse answers (queue.toml [caps] red_flags_per_number_per_day)
-- goes to the review list instead of the top of the callback queue again.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt as in
-- 0009 (foreign keys are off while migrations run and checked afterwards).
CREATE TABLE cases_new (
    id                    TEXT PRIMARY KEY NOT NULL,
    channel               TEXT NOT NULL CHECK (channel IN ('phone', 'digital')),
    priority              INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
    status                TEXT NOT NULL CHECK (status IN ('waiting', 'holding', 'claimed', 'done', 'cancelled', 'unreachable', 'review')),
    mode                  TEXT NOT NULL CHECK (mode IN ('callback', 'hold')),
    registered_at         TEXT NOT NULL,
    deadline              TEXT NOT NULL,
    estimated_callback_at TEXT,
    answers               TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(answers)),
    callback_number       TEXT,
    personnummer          TEXT,
    language              TEXT NOT NULL,
    call_id               TEXT,
    external_ref          TEXT UNIQUE,
    summary               TEXT NOT NULL DEFAULT '',
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    red_flag              INTEGER NOT NULL DEFAULT 0 CHECK (red_flag IN (0, 1)),
    claimed_by            TEXT,
    claimed_at            TEXT,
    outcome               TEXT CHECK (outcome IS NULL OR outcome IN
        ('self_care', 'health_centre', 'emergency_care', 'called_112', 'no_answer', 'other')),
    outcome_note          TEXT,
    closed_at             TEXT,
    next_attempt_at       TEXT,
    held_by               TEXT,
    review_reason         TEXT CHECK (review_reason IS NULL OR review_reason IN ('not_reached', 'no_number', 'repeated_red_flags')),
    claim_expires_at      TEXT,
    redacted_at           TEXT
);

INSERT INTO cases_new (id, channel, priority, status, mode, registered_at, deadline,
    estimated_callback_at, answers, callback_number, personnummer, language, call_id,
    external_ref, summary, attempts, red_flag, claimed_by, claimed_at, outcome,
    outcome_note, closed_at, next_attempt_at, held_by, review_reason, claim_expires_at, redacted_at)
SELECT id, channel, priority, status, mode, registered_at, deadline,
    estimated_callback_at, answers, callback_number, personnummer, language, call_id,
    external_ref, summary, attempts, red_flag, claimed_by, claimed_at, outcome,
    outcome_note, closed_at, next_attempt_at, held_by, review_reason, claim_expires_at, redacted_at
FROM cases;

DROP TABLE cases;
ALTER TABLE cases_new RENAME TO cases;

-- Everything that hung on the old table, again (0001, 0003, 0004, 0005, 0008, 0009, 0013).
CREATE INDEX cases_queue_order ON cases (status, (priority <> 1), deadline, registered_at);
CREATE INDEX cases_call_id ON cases (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX cases_callback_number ON cases (callback_number) WHERE callback_number IS NOT NULL;
CREATE INDEX cases_closed ON cases (status, closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX cases_waiting_callback_number ON cases (callback_number, status, mode)
    WHERE callback_number IS NOT NULL;
CREATE INDEX cases_held_by ON cases (held_by) WHERE mode = 'hold';
-- The sweeper's look-up of expired claims.
CREATE INDEX cases_claim_expiry ON cases (claim_expires_at) WHERE status = 'claimed';
CREATE INDEX cases_retention_due ON cases (closed_at) WHERE redacted_at IS NULL AND closed_at IS NOT NULL;

CREATE TRIGGER cases_live_insert AFTER INSERT ON cases
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'queue';
END;

CREATE TRIGGER cases_live_update AFTER UPDATE ON cases
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'queue';
END;

CREATE TRIGGER cases_live_delete AFTER DELETE ON cases
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'queue';
END;
