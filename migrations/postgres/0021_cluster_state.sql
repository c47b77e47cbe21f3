-- State that every node of a cluster must see (issue 13 item 5).

-- Callbacks: the node running the call writes each state change here, so
-- GET /calls/{id} answers on any node; a hangup asked for on another node
-- sets hangup_requested, which the running node follows.
CREATE TABLE callback_calls (
    call_id          TEXT PRIMARY KEY NOT NULL,
    case_id          TEXT NOT NULL,
    nurse            TEXT NOT NULL,
    node             TEXT NOT NULL,
    state            TEXT NOT NULL,
    result           TEXT,
    hangup_requested BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX callback_calls_updated ON callback_calls (updated_at);

-- Handling times (claim to outcome) the estimates replay with, from every
-- node's nurses. No case id, no personal data: only the level and the times.
CREATE TABLE handling_times (
    level       SMALLINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    claimed_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX handling_times_level ON handling_times (level, finished_at);

-- Nurse phone registrations (REGISTER through any node): where to ring the
-- nurse's phone, dialable from every node. peer is the address the REGISTER
-- came from (ip:port), node the node that took it (a TCP/TLS connection
-- only that node can use).
CREATE TABLE nurse_registrations (
    username   TEXT NOT NULL,
    contact    TEXT NOT NULL,
    peer       TEXT NOT NULL,
    transport  TEXT NOT NULL,
    node       TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (username, contact)
);
CREATE INDEX nurse_registrations_expiry ON nurse_registrations (expires_at);

-- A nurse on one node takes a caller holding on another: her node asks the
-- holding node (node) here, which rings her phone and bridges it to the
-- live call under call_id; status says how far it got ('expired': the
-- holding node did not take it in time).
CREATE TABLE held_pickups (
    call_id      TEXT PRIMARY KEY NOT NULL,
    case_id      TEXT NOT NULL,
    nurse        TEXT NOT NULL,
    node         TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('pending', 'taken', 'started', 'failed', 'expired')),
    message      TEXT,
    requested_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX held_pickups_pending ON held_pickups (node) WHERE status = 'pending';
