DROP TABLE IF EXISTS incident_processed;
