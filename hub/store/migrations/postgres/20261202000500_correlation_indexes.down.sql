DROP INDEX IF EXISTS incidents_key_started;
--bun:split
CREATE INDEX incidents_key_started ON incidents (owner_kind, owner_id, incident_key, started_at) WHERE incident_key <> '';
--bun:split
DROP INDEX IF EXISTS incidents_service_started;
--bun:split
CREATE INDEX incidents_service_started ON incidents (owner_kind, owner_id, service_id, started_at);
--bun:split
DROP INDEX IF EXISTS incident_correlations_parent;
