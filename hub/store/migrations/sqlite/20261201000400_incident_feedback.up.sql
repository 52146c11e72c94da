CREATE TABLE incident_feedback (
    id            TEXT PRIMARY KEY,
    incident_id   TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    feedback_type TEXT NOT NULL CHECK (feedback_type IN ('helpful', 'not_helpful')),
    comment       TEXT,
    created_at    TIMESTAMP NOT NULL,
    UNIQUE (incident_id, user_id)
);
