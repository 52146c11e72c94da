-- Which organisations a user has been seen acting in. Append-only: a row is
-- never updated or deleted by a request, so one user's later request cannot
-- take a connection out of reach of the webhook URLs it was set up with
-- (see ConnectionsReachableBy).
CREATE TABLE org_memberships (
    user_id       TEXT NOT NULL,
    org_id        TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
--bun:split
INSERT INTO org_memberships (user_id, org_id, first_seen_at)
SELECT user_id, org_id, updated_at FROM user_orgs WHERE true
ON CONFLICT DO NOTHING;
--bun:split
INSERT INTO org_memberships (user_id, org_id, first_seen_at)
SELECT created_by, owner_id, created_at FROM connections WHERE owner_kind = 'org' AND created_by <> ''
ON CONFLICT DO NOTHING;
--bun:split
DROP TABLE user_orgs;
