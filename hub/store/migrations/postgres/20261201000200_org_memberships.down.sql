CREATE TABLE user_orgs (
    user_id    TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
--bun:split
INSERT INTO user_orgs (user_id, org_id, updated_at)
SELECT m.user_id, m.org_id, m.first_seen_at FROM org_memberships m
WHERE m.first_seen_at = (SELECT MAX(first_seen_at) FROM org_memberships WHERE user_id = m.user_id)
ON CONFLICT DO NOTHING;
--bun:split
DROP TABLE org_memberships;
