DROP TABLE user_orgs;
--bun:split
DROP TABLE connections;
