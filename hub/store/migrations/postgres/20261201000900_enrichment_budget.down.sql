DROP INDEX IF EXISTS incidents_open_key;
--bun:split
DROP INDEX IF EXISTS incidents_open_service;
--bun:split
DROP TABLE IF EXISTS api_rate_buckets;
--bun:split
DROP TABLE IF EXISTS service_evidence;
