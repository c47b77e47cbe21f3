-- Supervisor settings (one JSON document per key, e.g. 'supervisor'), changed at
-- run time from /supervisor and read by every node for the next caller.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Change counters that nodes poll (SQLite has no LISTEN/NOTIFY): triggers bump
-- 'queue' on any case change and 'settings' on any settings change.
CREATE TABLE live_versions (
    topic   TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);

INSERT INTO live_versions (topic, version) VALUES ('queue', 0), ('settings', 0);

CREATE TRIGGER cases_live_insert AFTER INSERT ON cases
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'queue';
END;

CREATE TRIGGER cases_live_update AFTER UPDATE ON cases
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'queue';
END;

CREATE TRIGGER cases_live_delete AFTER DELETE ON cases
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'queue';
END;

CREATE TRIGGER settings_live_insert AFTER INSERT ON settings
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'settings';
END;

CREATE TRIGGER settings_live_update AFTER UPDATE ON settings
BEGIN
    UPDATE live_versions SET version = version + 1 WHERE topic = 'settings';
END;
