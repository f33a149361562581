-- Access gates: training certificates (recorded by a program manager), the versioned policy
-- document and each user's acknowledgement of it.

CREATE TABLE training_certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    course TEXT NOT NULL,
    completed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    recorded_by INTEGER NOT NULL REFERENCES users(id),
    recorded_at INTEGER NOT NULL
);
CREATE INDEX training_user ON training_certificates (user_id, expires_at);

CREATE TABLE policy_versions (
    version INTEGER PRIMARY KEY,
    document TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id)
);

CREATE TABLE policy_acknowledgements (
    user_id INTEGER NOT NULL REFERENCES users(id),
    version INTEGER NOT NULL,
    acknowledged_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, version)
);
