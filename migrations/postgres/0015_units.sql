-- Care units (sip-config/units.toml) and handing cases between them.
--
-- cases.unit / staff_users.unit: the unit id; NULL = the default unit of
-- units.toml (the nurse line), where every new case lands and where accounts
-- created before units belong. The default unit's id is configuration, so it
-- is never stored: renaming it moves nothing.
ALTER TABLE cases ADD COLUMN unit TEXT;
ALTER TABLE staff_users ADD COLUMN unit TEXT;

-- Each unit's worklist in queue order.
CREATE INDEX cases_unit_queue ON cases (unit, status, (priority <> 1), deadline, registered_at);

-- Every handoff, oldest first per case: who passed it from where to where, with
-- the nurse's short note (never copied to the audit log: it is free text).
CREATE TABLE case_handoffs (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id   TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    from_unit TEXT NOT NULL,
    to_unit   TEXT NOT NULL,
    by_user   TEXT NOT NULL,
    note      TEXT NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
    at        TIMESTAMPTZ NOT NULL
);

CREATE INDEX case_handoffs_case ON case_handoffs (case_id, id);
