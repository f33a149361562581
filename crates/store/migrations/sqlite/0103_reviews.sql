-- Access: the supervisors' review queue of searches (a random sample plus flagged ones).

CREATE TABLE review_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_seq INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    reasons TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    reviewed_by INTEGER REFERENCES users(id),
    reviewed_at INTEGER,
    verdict TEXT,
    note TEXT
);
CREATE INDEX review_items_pending ON review_items (reviewed_at, id);
