CREATE TABLE webhook_secrets (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    secret        BYTEA NOT NULL,
    source        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ
);
--bun:split
CREATE INDEX webhook_secrets_connection ON webhook_secrets (connection_id);
--bun:split
CREATE TABLE webhook_state (
    connection_id    TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    subscription_id  TEXT NOT NULL DEFAULT '',
    subscription     TEXT NOT NULL DEFAULT '{}',
    last_delivery_at TIMESTAMPTZ,
    last_error       TEXT NOT NULL DEFAULT '',
    last_error_at    TIMESTAMPTZ
);
--bun:split
CREATE TABLE webhook_inbox (
    id            BIGSERIAL PRIMARY KEY,
    provider      TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    owner_kind    TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    webhook_id    TEXT NOT NULL DEFAULT '',
    event_type    TEXT NOT NULL,
    occurred_at   TIMESTAMPTZ,
    verified      BOOLEAN NOT NULL,
    event         TEXT NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    applied_at    TIMESTAMPTZ,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    UNIQUE (provider, connection_id, event_id)
);
