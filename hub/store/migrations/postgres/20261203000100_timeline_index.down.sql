CREATE INDEX IF NOT EXISTS incident_events_time ON incident_events (incident_id, occurred_at);
