-- Callers who hung up in the IVR before anything was registered, and at which
-- IVR node (flow question id), for the follow-up reports. No call id, no number:
-- only when and where. Written beside the call, never awaited by it.
CREATE TABLE ivr_abandonments (
    id   TEXT PRIMARY KEY NOT NULL,
    at   TIMESTAMPTZ NOT NULL,
    node TEXT NOT NULL CHECK (char_length(node) BETWEEN 1 AND 60)
);

CREATE INDEX ivr_abandonments_at ON ivr_abandonments (at);

-- Reports read cases by registration time.
CREATE INDEX cases_registered ON cases (registered_at);
