CREATE TABLE oauth_states (
    state_hash   TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    org_id       TEXT NOT NULL DEFAULT '',
    verifier     BLOB NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
