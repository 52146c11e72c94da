-- Hub processes sharing this database and when each was last heard of
-- (on SQLite there is only ever one; the table keeps both schemas alike).
CREATE TABLE hub_replicas (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    started_at   TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL
);
