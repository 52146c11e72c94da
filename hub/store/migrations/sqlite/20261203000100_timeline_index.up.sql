-- An incident's timeline is read by incident_id alone (the primary key,
-- incident_id and event_id, finds it) and sorted in memory: one incident's
-- events are few. An index on (incident_id, occurred_at) was written for
-- every event applied and read by nothing else (issue #13: applying a
-- storm's events).
DROP INDEX IF EXISTS incident_events_time;
