CREATE TABLE settings (
    owner_kind    TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    automated_rca BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
--bun:split
CREATE TABLE incident_enrichments (
    incident_id      TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    notes            TEXT NOT NULL DEFAULT '[]',
    related_services TEXT NOT NULL DEFAULT '[]',
    error            TEXT NOT NULL DEFAULT '',
    gathered_at      TIMESTAMP NOT NULL
);
--bun:split
CREATE TABLE incident_evidence (
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    at           TIMESTAMP,
    data         TEXT,
    dedup_key    TEXT NOT NULL DEFAULT '',
    service_id   TEXT NOT NULL DEFAULT '',
    service_name TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, kind, external_id)
);
--bun:split
CREATE TABLE incident_correlations (
    incident_id        TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    parent_incident_id TEXT NOT NULL,
    score              DOUBLE PRECISION NOT NULL,
    parts              TEXT NOT NULL,
    created_at         TIMESTAMP NOT NULL
);
--bun:split
CREATE TABLE incident_rca (
    id           TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    analyzer     TEXT NOT NULL DEFAULT '',
    report       TEXT,
    error        TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
--bun:split
CREATE INDEX incident_rca_incident ON incident_rca (incident_id, created_at DESC);
