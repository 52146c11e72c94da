-- A connection's webhook URL key: /<provider>/webhook/{user_id}/{key} reaches
-- that connection alone. key_hash (SHA-256, hex) finds it; key_sealed lets
-- GET /<provider>/webhook-url show it again.
CREATE TABLE webhook_keys (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    key_hash      TEXT NOT NULL UNIQUE,
    key_sealed    BLOB NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
