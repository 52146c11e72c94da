DROP TABLE incident_rca;
--bun:split
DROP TABLE incident_correlations;
--bun:split
DROP TABLE incident_evidence;
--bun:split
DROP TABLE incident_enrichments;
--bun:split
DROP TABLE settings;
