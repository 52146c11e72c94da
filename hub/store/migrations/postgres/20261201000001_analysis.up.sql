ALTER TABLE incidents ADD COLUMN merged_into_incident_id TEXT REFERENCES incidents (id) ON DELETE SET NULL;
--bun:split
CREATE TABLE incident_thoughts (
    id          BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    type        TEXT NOT NULL,
    timestamp   TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX incident_thoughts_incident ON incident_thoughts (incident_id, id);
--bun:split
CREATE TABLE incident_citations (
    id          BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    citation_key TEXT NOT NULL,
    tool_name   TEXT NOT NULL DEFAULT '',
    command     TEXT NOT NULL DEFAULT '',
    output      TEXT NOT NULL DEFAULT '',
    executed_at TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (incident_id, citation_key)
);
--bun:split
CREATE TABLE incident_suggestions (
    id          BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL,
    risk        TEXT NOT NULL,
    command     TEXT NOT NULL DEFAULT '',
    rationale   TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX incident_suggestions_incident ON incident_suggestions (incident_id, id);
