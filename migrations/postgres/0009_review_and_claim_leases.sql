-- The review list and leases on claims.
--
-- status 'review': open, but not for the dialler; a nurse looks at the case
-- first (review_reason says why: 'not_reached' after the last callback attempt
-- of an urgent case, 'no_number' when a held caller with a withheld number
-- left). claim_expires_at: a nurse's claim lasts until then unless renewed;
-- any node's sweeper puts expired claims back in the queue.
ALTER TABLE cases DROP CONSTRAINT cases_status_check;
ALTER TABLE cases ADD CONSTRAINT cases_status_check CHECK (status IN
    ('waiting', 'holding', 'claimed', 'done', 'cancelled', 'unreachable', 'review'));
ALTER TABLE cases ADD COLUMN review_reason TEXT
    CHECK (review_reason IS NULL OR review_reason IN ('not_reached', 'no_number'));
ALTER TABLE cases ADD COLUMN claim_expires_at TIMESTAMPTZ;
-- The sweeper's look-up of expired claims.
CREATE INDEX cases_claim_expiry ON cases (claim_expires_at) WHERE status = 'claimed';
