-- A tamper-evident audit log: each row carries its place in one chain (seq,
-- 1, 2, 3, ...), the hash of the row before it and its own hash (SHA-256 over
-- that previous hash and the row's content, computed by the application; see
-- src/store/audit_chain.rs). `phone-entrance audit verify` recomputes the
-- chain and names the first row that does not match.
--
-- audit_chain_head is the chain's end (last seq and hash). Every audit insert
-- first updates it, which takes SQLite's write lock (and on PostgreSQL the
-- row lock), so concurrent writers append one after the other: one chain.
-- Rows written before this migration have no seq (before the chain).
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);

CREATE TABLE audit_chain_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The head only moves forward and is never removed.
CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
    WHEN NEW.seq < OLD.seq OR NEW.id <> OLD.id
BEGIN
    SELECT RAISE(ABORT, 'audit_chain_head only moves forward');
END;

CREATE TRIGGER audit_chain_head_kept BEFORE DELETE ON audit_chain_head
BEGIN
    SELECT RAISE(ABORT, 'audit_chain_head cannot be removed');
END;
