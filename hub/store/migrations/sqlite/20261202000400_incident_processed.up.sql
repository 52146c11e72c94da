-- Incidents whose processing (enrichment, correlation, analysis scheduling)
-- the pipeline is done with: processed, or handed by their chunk's
-- process_incidents job to a process_incident job of their own after a
-- failure (issue #13). A retried chunk skips them.
CREATE TABLE incident_processed (
    incident_id  TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    processed_at TIMESTAMP NOT NULL
);
