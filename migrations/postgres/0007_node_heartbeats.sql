-- Each node writes its heartbeat here every few seconds: the write is the
-- node's readiness probe (a node that cannot write is not ready), and a fresh
-- heartbeat is the lease under which the node's held cases stay its own.
CREATE TABLE node_heartbeats (
    node    TEXT PRIMARY KEY NOT NULL,
    beat_at TIMESTAMPTZ NOT NULL
);
