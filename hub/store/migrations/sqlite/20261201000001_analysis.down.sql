DROP TABLE incident_suggestions;
--bun:split
DROP TABLE incident_citations;
--bun:split
DROP TABLE incident_thoughts;
--bun:split
ALTER TABLE incidents DROP COLUMN merged_into_incident_id;
