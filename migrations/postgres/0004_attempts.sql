-- Callback attempts and call detail records.

-- After a failed attempt the case waits in the queue, keeping its deadline, and
-- claim-next passes it over until this time (NULL: no attempt pending).
ALTER TABLE cases ADD COLUMN next_attempt_at TIMESTAMPTZ;

-- Unreachable cases of the day for the supervisor (closed_at is the last attempt).
CREATE INDEX cases_closed ON cases (status, closed_at) WHERE closed_at IS NOT NULL;

-- One row per call leg (the IVR call, the resident and nurse legs of a callback).
-- No phone numbers: the case holds the callback number, the leg only its role.
-- A deleted case (retention) leaves its legs, unlinked, for the call statistics.
CREATE TABLE call_legs (
    id          TEXT PRIMARY KEY NOT NULL,
    case_id     TEXT REFERENCES cases (id) ON DELETE SET NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    kind        TEXT NOT NULL CHECK (kind IN ('ivr', 'resident', 'nurse_phone', 'nurse_browser')),
    started_at  TIMESTAMPTZ NOT NULL,
    answered_at TIMESTAMPTZ,
    ended_at    TIMESTAMPTZ NOT NULL,
    result      TEXT NOT NULL CHECK (length(result) BETWEEN 1 AND 40),
    sip_status  SMALLINT CHECK (sip_status IS NULL OR sip_status BETWEEN 100 AND 699),
    ended_by    TEXT CHECK (ended_by IS NULL OR ended_by IN ('local', 'remote')),
    CHECK (answered_at IS NULL OR answered_at >= started_at),
    CHECK (ended_at >= started_at)
);

CREATE INDEX call_legs_case ON call_legs (case_id, started_at) WHERE case_id IS NOT NULL;
CREATE INDEX call_legs_started ON call_legs (started_at);
