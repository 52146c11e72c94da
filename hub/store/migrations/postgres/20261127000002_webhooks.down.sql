DROP TABLE webhook_inbox;
--bun:split
DROP TABLE webhook_state;
--bun:split
DROP TABLE webhook_secrets;
