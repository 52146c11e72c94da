DROP TABLE incident_custom_fields;
--bun:split
DROP TABLE incident_events;
--bun:split
DROP TABLE incidents;
