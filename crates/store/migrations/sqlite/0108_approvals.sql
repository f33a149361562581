-- Separation of duties: a change that opens plate data to a person (an access grant, a
-- role with plate data, a program manager's account, a password or authenticator reset of
-- someone who holds access) waits here until a second person of the other role approves
-- or rejects it. The payload holds what the change needs (a role, a password hash); it is
-- cleared once the request is decided.
CREATE TABLE approval_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target_user_id INTEGER REFERENCES users(id),
    payload TEXT NOT NULL,
    summary TEXT NOT NULL,
    requested_by INTEGER NOT NULL REFERENCES users(id),
    requested_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_by INTEGER REFERENCES users(id),
    decided_at INTEGER,
    outcome TEXT
);
CREATE INDEX approval_requests_open ON approval_requests (decided_at, requested_at);
