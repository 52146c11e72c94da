-- Retention prunes applied events by age: only applied rows are indexed, so
-- recording a webhook maintains no extra index.
CREATE INDEX webhook_inbox_applied_received ON webhook_inbox (received_at) WHERE applied_at IS NOT NULL;
