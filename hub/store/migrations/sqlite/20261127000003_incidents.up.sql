CREATE TABLE incidents (
    id                     TEXT PRIMARY KEY,
    provider               TEXT NOT NULL,
    owner_kind             TEXT NOT NULL CHECK (owner_kind IN ('user', 'org')),
    owner_id               TEXT NOT NULL,
    connection_id          TEXT NOT NULL DEFAULT '',
    external_id            TEXT NOT NULL,
    incident_number        BIGINT NOT NULL DEFAULT 0,
    title                  TEXT NOT NULL DEFAULT '',
    status                 TEXT NOT NULL,
    severity               TEXT NOT NULL,
    provider_status        TEXT NOT NULL DEFAULT '',
    urgency                TEXT NOT NULL DEFAULT '',
    priority               TEXT NOT NULL DEFAULT '',
    service_id             TEXT NOT NULL DEFAULT '',
    service_name           TEXT NOT NULL DEFAULT '',
    service_url            TEXT NOT NULL DEFAULT '',
    escalation_policy      TEXT,
    assignees              TEXT NOT NULL DEFAULT '[]',
    teams                  TEXT NOT NULL DEFAULT '[]',
    incident_key           TEXT NOT NULL DEFAULT '',
    html_url               TEXT NOT NULL DEFAULT '',
    resolve_reason         TEXT NOT NULL DEFAULT '',
    state_at               TIMESTAMP,
    alert_fired_at         TIMESTAMP NOT NULL,
    started_at             TIMESTAMP NOT NULL,
    resolved_at            TIMESTAMP,
    aurora_status          TEXT NOT NULL DEFAULT 'idle',
    summary                TEXT,
    analyzed_at            TIMESTAMP,
    correlated_alert_count INTEGER NOT NULL DEFAULT 0,
    affected_services      TEXT NOT NULL DEFAULT '[]',
    parent_incident_id     TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    UNIQUE (provider, owner_kind, owner_id, external_id)
);
--bun:split
CREATE INDEX incidents_owner_started ON incidents (owner_kind, owner_id, started_at DESC, id DESC);
--bun:split
CREATE INDEX incidents_parent ON incidents (parent_incident_id) WHERE parent_incident_id IS NOT NULL;
--bun:split
CREATE TABLE incident_events (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    agent       TEXT,
    data        TEXT,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, event_id)
);
--bun:split
CREATE INDEX incident_events_time ON incident_events (incident_id, occurred_at);
--bun:split
CREATE TABLE incident_custom_fields (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    field_id    TEXT NOT NULL DEFAULT '',
    namespace   TEXT NOT NULL DEFAULT '',
    data_type   TEXT NOT NULL DEFAULT '',
    field_type  TEXT NOT NULL DEFAULT '',
    value_json  TEXT NOT NULL,
    set_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, name)
);
