-- SMS outbox: every SMS is a row first, written in the same transaction as
-- what caused it (a case, a failed callback attempt); a dispatcher sends the
-- rows through the gateway, per recipient strictly in `seq` order, retrying
-- while the gateway fails, so an outage loses nothing. `last_error` holds a
-- reason without personal data. Retention clears `to_number` and `body`.
CREATE TABLE sms_outbox (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    case_id            TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    kind               TEXT NOT NULL CHECK (kind IN ('callback_confirmation', 'callback_missed', 'self_care_advice')),
    -- One SMS per (case, dedup_key): 'confirmation', 'missed:<attempt>', 'self_care'.
    dedup_key          TEXT NOT NULL,
    to_number          TEXT NOT NULL,
    language           TEXT NOT NULL,
    body               TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    status             TEXT NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMPTZ NOT NULL,
    -- A node sending the row holds it until then; past it, another node may.
    lease_until        TIMESTAMPTZ,
    gateway_message_id TEXT,
    last_error         TEXT,
    sent_at            TIMESTAMPTZ,
    delivered_at       TIMESTAMPTZ,
    UNIQUE (case_id, dedup_key)
);

CREATE INDEX sms_outbox_pending ON sms_outbox (to_number, seq) WHERE status IN ('queued', 'sending');
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX sms_outbox_case ON sms_outbox (case_id, seq);
CREATE UNIQUE INDEX sms_outbox_gateway_id ON sms_outbox (gateway_message_id) WHERE gateway_message_id IS NOT NULL;
