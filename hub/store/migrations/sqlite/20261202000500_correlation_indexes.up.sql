-- Indexes for correlating a storm (issue #13), measured on a
-- 50,000-incident storm of 20 services.
-- Attaching an incident moves the records of the incidents that had joined
-- it (WHERE parent_incident_id = ?): without an index each attachment read
-- the whole table, 0.6 ms per new incident and growing.
CREATE INDEX incident_correlations_parent ON incident_correlations (parent_incident_id);
--bun:split
-- The most recent open incidents of a service or key (ORDER BY started_at
-- DESC, id DESC LIMIT 50): with id in the index SQLite's planner takes it
-- over incidents_owner_started, which has the order but not the service,
-- and reads 50 rows instead of the tenant's whole window.
DROP INDEX incidents_service_started;
--bun:split
CREATE INDEX incidents_service_started ON incidents (owner_kind, owner_id, service_id, started_at DESC, id DESC);
--bun:split
DROP INDEX incidents_key_started;
--bun:split
CREATE INDEX incidents_key_started ON incidents (owner_kind, owner_id, incident_key, started_at DESC, id DESC) WHERE incident_key <> '';
