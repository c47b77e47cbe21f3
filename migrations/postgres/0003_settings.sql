-- Supervisor settings (one JSON document per key, e.g. 'supervisor'), changed at
-- run time from /supervisor and read by every node for the next caller.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL
);

-- Every node LISTENs: 'pe_queue' carries a queue version (from a sequence, so
-- concurrent writers never wait on each other), 'pe_settings' says "reload".
-- Notifications are sent at commit, so listeners never see uncommitted state.
CREATE SEQUENCE queue_version_seq;

CREATE FUNCTION pe_notify_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pe_queue', nextval('queue_version_seq')::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER cases_live AFTER INSERT OR UPDATE OR DELETE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION pe_notify_queue();

CREATE FUNCTION pe_notify_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pe_settings', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER settings_live AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION pe_notify_settings();
