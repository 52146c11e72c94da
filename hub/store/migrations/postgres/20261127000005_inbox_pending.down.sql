DROP INDEX webhook_inbox_pending;
