-- Cases in the shared callback queue, and an append-only audit log.
CREATE TABLE cases (
    id                    TEXT PRIMARY KEY NOT NULL,
    channel               TEXT NOT NULL CHECK (channel IN ('phone', 'digital')),
    priority              SMALLINT NOT NULL CHECK (priority BETWEEN 1 AND 5),
    status                TEXT NOT NULL CHECK (status IN ('waiting', 'holding', 'claimed', 'done', 'cancelled', 'unreachable')),
    mode                  TEXT NOT NULL CHECK (mode IN ('callback', 'hold')),
    registered_at         TIMESTAMPTZ NOT NULL,
    deadline              TIMESTAMPTZ NOT NULL,
    estimated_callback_at TIMESTAMPTZ,
    answers               JSONB NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(answers) = 'array'),
    callback_number       TEXT,
    personnummer          TEXT,
    language              TEXT NOT NULL,
    call_id               TEXT,
    external_ref          TEXT UNIQUE,
    summary               TEXT NOT NULL DEFAULT '',
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    red_flag              BOOLEAN NOT NULL DEFAULT FALSE
);

-- Queue order: open cases, level 1 first, then earliest deadline, then registration.
CREATE INDEX cases_queue_order ON cases (status, (priority <> 1), deadline, registered_at);
CREATE INDEX cases_call_id ON cases (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX cases_callback_number ON cases (callback_number) WHERE callback_number IS NOT NULL;

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    case_id TEXT,
    detail  TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_case ON audit_log (case_id, at);

-- Append-only: the log is evidence, so rows can be neither changed nor removed.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
