-- One row that readiness probes write to: proof that the database takes
-- writes, without writing anything else.
CREATE TABLE hub_health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TIMESTAMP NOT NULL,
    checked_by TEXT NOT NULL DEFAULT ''
);
--bun:split
INSERT INTO hub_health (id, checked_at) VALUES (1, CURRENT_TIMESTAMP);
