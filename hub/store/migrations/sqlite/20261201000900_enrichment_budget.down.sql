DROP INDEX IF EXISTS incidents_key_started;
--bun:split
DROP INDEX IF EXISTS incidents_service_started;
--bun:split
DROP TABLE IF EXISTS api_rate_buckets;
--bun:split
DROP TABLE IF EXISTS service_evidence;
