-- Hub processes sharing this database and when each was last heard of:
-- the jobs of a replica that stopped heartbeating are run by another.
CREATE TABLE hub_replicas (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);
