-- Pending events are found by id among the few not yet applied.
CREATE INDEX webhook_inbox_pending ON webhook_inbox (id) WHERE applied_at IS NULL;
