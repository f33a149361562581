-- Access: wildcard search and review flags.
-- plate_sig: a keyed 64-bit signature of the plate's grams (first and last character,
-- adjacent pairs; key of the read's window), so a wildcard search skips most reads without
-- decrypting them. NULL for reads stored before this migration: always candidates.
ALTER TABLE reads ADD COLUMN plate_sig INTEGER;
CREATE INDEX reads_window_time ON reads (key_window, captured_at, id, plate_sig);
-- Every time-range query goes through a window, so the plain time index only costs ingest.
DROP INDEX reads_captured;

-- One row per search: who, when, a keyed fingerprint of the plate or pattern searched
-- (never the plate), for the repeated-plate and unusual-pattern review flags.
CREATE TABLE search_activity (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    at INTEGER NOT NULL,
    query_fingerprint BLOB NOT NULL,
    partial INTEGER NOT NULL
);
CREATE INDEX search_activity_user ON search_activity (user_id, at);
