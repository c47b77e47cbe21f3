-- A tamper-evident audit log: each row carries its place in one chain (seq,
-- 1, 2, 3, ...), the hash of the row before it and its own hash (SHA-256 over
-- that previous hash and the row's content, computed by the application; see
-- src/store/audit_chain.rs). `phone-entrance audit verify` recomputes the
-- chain and names the first row that does not match.
--
-- audit_chain_head is the chain's end (last seq and hash). Every audit insert
-- first updates it, taking its row lock until commit, so concurrent writers
-- on every node append one after the other: one chain.
-- Rows written before this migration have no seq (before the chain).
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);

CREATE TABLE audit_chain_head (
    id   SMALLINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Migration 0001's trigger stops UPDATE and DELETE row by row; TRUNCATE
-- fires no row triggers, so it gets a statement trigger of its own.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The head only moves forward and is never removed or emptied.
CREATE FUNCTION audit_chain_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'audit_chain_head only moves forward';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- No role but the owner gets to change the log. Run migrations as a separate
-- owner role and grant the service's role only INSERT and SELECT (README):
-- then it cannot drop these triggers either.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
REVOKE DELETE, TRUNCATE ON audit_chain_head FROM PUBLIC;
