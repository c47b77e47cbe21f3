-- Post-contact survey answers (phone survey after a callback, and the digital
-- channel's posts). Anonymous on purpose: no case id, call id, number or exact
-- time, and a random id (no insertion order), so an answer cannot be linked
-- back to the resident or to the nurse's case; residents are told it is
-- anonymous and the reports only need the aggregates.
CREATE TABLE survey_responses (
    id       TEXT PRIMARY KEY NOT NULL,
    channel  TEXT NOT NULL CHECK (channel IN ('phone', 'digital')),
    level    SMALLINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    -- The case's care unit; NULL = the default unit of units.toml.
    unit     TEXT,
    -- The hour the answers were given (minutes and seconds cut off).
    hour     TEXT NOT NULL,
    -- {"question id": digit, ...}
    answers  TEXT NOT NULL
);

CREATE INDEX survey_responses_hour ON survey_responses (hour);
