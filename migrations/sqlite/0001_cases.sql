-- Cases in the shared callback queue, and an append-only audit log.
-- Timestamps are UTC text in one fixed-width form (YYYY-MM-DDTHH:MM:SS.ffffffZ)
-- written by the store, so text order is time order.
CREATE TABLE cases (
    id                    TEXT PRIMARY KEY NOT NULL,
    channel               TEXT NOT NULL CHECK (channel IN ('phone', 'digital')),
    priority              INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
    status                TEXT NOT NULL CHECK (status IN ('waiting', 'holding', 'claimed', 'done', 'cancelled', 'unreachable')),
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
    red_flag              INTEGER NOT NULL DEFAULT 0 CHECK (red_flag IN (0, 1))
);

-- Queue order: open cases, level 1 first, then earliest deadline, then registration.
CREATE INDEX cases_queue_order ON cases (status, (priority <> 1), deadline, registered_at);
CREATE INDEX cases_call_id ON cases (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX cases_callback_number ON cases (callback_number) WHERE callback_number IS NOT NULL;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    case_id TEXT,
    detail  TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_case ON audit_log (case_id, at);

-- Append-only: the log is evidence, so rows can be neither changed nor removed.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
