DROP TABLE webhook_keys;
