-- Access: the audit log, a SHA-256 hash chain (see candor-audit), with signed checkpoints
-- and the signed anchor left by pruning. Rows are only ever appended (and the oldest pruned
-- under retention); verification finds any other change.

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_action ON audit_log (action, time);

-- The writer's view of the chain (length and head hash), one row. Appends lock it, so the
-- chain never forks, also across processes; a tail cut from audit_log no longer matches it.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    length INTEGER NOT NULL,
    head_hash BLOB NOT NULL
);
INSERT INTO audit_head (id, length, head_hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    length INTEGER NOT NULL,
    time INTEGER NOT NULL,
    statement TEXT NOT NULL
);

CREATE TABLE audit_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    first_seq INTEGER NOT NULL,
    statement TEXT NOT NULL
);
