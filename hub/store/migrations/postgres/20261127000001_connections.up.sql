CREATE TABLE connections (
    id                  TEXT PRIMARY KEY,
    provider            TEXT NOT NULL,
    owner_kind          TEXT NOT NULL CHECK (owner_kind IN ('user', 'org')),
    owner_id            TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    auth_type           TEXT NOT NULL,
    secret              BYTEA NOT NULL,
    external_user_id    TEXT,
    external_user_email TEXT,
    external_user_name  TEXT,
    external_user_role  TEXT,
    account_subdomain   TEXT NOT NULL DEFAULT '',
    account_level       BOOLEAN NOT NULL DEFAULT FALSE,
    capabilities        TEXT NOT NULL DEFAULT '{}',
    status              TEXT NOT NULL,
    status_error        TEXT NOT NULL DEFAULT '',
    validated_at        TIMESTAMPTZ NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, owner_kind, owner_id)
);
--bun:split
CREATE TABLE user_orgs (
    user_id    TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
