-- Enrichment costs per service and per storm, not per incident (issue #13).
-- Service-level evidence (change events, dependencies) gathered for one
-- incident, reused for the service's incidents that trigger soon before
-- gathered_until; one row per connection and service, replaced by newer.
CREATE TABLE service_evidence (
    connection_id    TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    service_id       TEXT NOT NULL,
    gathered_until   TIMESTAMPTZ NOT NULL,
    gathered_at      TIMESTAMPTZ NOT NULL,
    evidence         TEXT NOT NULL DEFAULT '[]',
    notes            TEXT NOT NULL DEFAULT '[]',
    related_services TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (connection_id, service_id)
);
--bun:split
-- Token buckets pacing calls to a provider's API per credential, shared by
-- every replica (tokens below zero are calls already promised).
CREATE TABLE api_rate_buckets (
    key        TEXT PRIMARY KEY,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
--bun:split
-- Correlation looks first at open incidents of the same service
-- or with the same incident key.
CREATE INDEX incidents_service_started ON incidents (owner_kind, owner_id, service_id, started_at);
--bun:split
CREATE INDEX incidents_key_started ON incidents (owner_kind, owner_id, incident_key, started_at) WHERE incident_key <> '';
