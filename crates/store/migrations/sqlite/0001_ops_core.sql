-- Ops core: cameras, ingest batches, reads, images, hot lists, user hot plates, hits,
-- key windows (metadata only; key material lives outside the database), legal holds,
-- purge receipts. Timestamps are Unix milliseconds UTC.

CREATE TABLE cameras (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    location TEXT NOT NULL,
    latitude REAL,
    longitude REAL,
    direction TEXT NOT NULL,
    justification TEXT NOT NULL,
    consultation_date TEXT,
    permit_reference TEXT,
    approving_authority TEXT,
    approval_date TEXT,
    status TEXT NOT NULL,
    api_key_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE key_windows (
    id INTEGER PRIMARY KEY,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    destroyed_at INTEGER
);

CREATE TABLE ingest_batches (
    camera_id TEXT NOT NULL REFERENCES cameras(id),
    idempotency_key TEXT NOT NULL,
    batch_id TEXT NOT NULL UNIQUE,
    request_hash BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    read_count INTEGER NOT NULL,
    hit_count INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (camera_id, idempotency_key)
);

CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL REFERENCES cameras(id),
    captured_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    key_window INTEGER NOT NULL REFERENCES key_windows(id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    byte_len INTEGER NOT NULL
);
CREATE INDEX images_expiry ON images (expires_at);

CREATE TABLE reads (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL REFERENCES cameras(id),
    batch_id TEXT NOT NULL,
    captured_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    key_window INTEGER NOT NULL REFERENCES key_windows(id),
    plate_index BLOB NOT NULL,
    confidence REAL NOT NULL,
    is_hit INTEGER NOT NULL,
    image_id INTEGER REFERENCES images(id) ON DELETE SET NULL,
    sealed BLOB NOT NULL
);
CREATE INDEX reads_expiry ON reads (expires_at);
CREATE INDEX reads_plate ON reads (key_window, plate_index);
CREATE INDEX reads_captured ON reads (captured_at);
CREATE INDEX reads_camera ON reads (camera_id, captured_at);

CREATE TABLE hot_lists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    hit_type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    hit_retention_secs INTEGER,
    version INTEGER NOT NULL,
    entry_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE hot_list_entries (
    id INTEGER PRIMARY KEY,
    list_id INTEGER NOT NULL REFERENCES hot_lists(id) ON DELETE CASCADE,
    plate TEXT NOT NULL,
    state TEXT,
    hit_type TEXT NOT NULL,
    reference TEXT,
    reason TEXT,
    effective_at INTEGER,
    expires_at INTEGER,
    priority INTEGER,
    details TEXT
);
CREATE INDEX hot_list_entries_list ON hot_list_entries (list_id);

CREATE TABLE user_hot_plates (
    id INTEGER PRIMARY KEY,
    plate TEXT NOT NULL,
    state TEXT,
    reason TEXT NOT NULL,
    case_number TEXT NOT NULL,
    hit_type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    entered_by INTEGER NOT NULL,
    entered_by_name TEXT NOT NULL,
    entered_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided_by INTEGER,
    decided_by_name TEXT,
    decided_at INTEGER,
    decision_note TEXT
);

CREATE TABLE hits (
    id INTEGER PRIMARY KEY,
    read_id INTEGER NOT NULL REFERENCES reads(id) ON DELETE CASCADE,
    camera_id TEXT NOT NULL,
    list_id INTEGER,
    entry_id INTEGER,
    user_plate_id INTEGER,
    hit_type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    match_kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    key_window INTEGER NOT NULL REFERENCES key_windows(id),
    sealed BLOB NOT NULL,
    disposition TEXT,
    disposition_by INTEGER,
    disposition_by_name TEXT,
    disposition_at INTEGER,
    disposition_note TEXT,
    action TEXT,
    action_by INTEGER,
    action_by_name TEXT,
    action_at INTEGER,
    action_note TEXT
);
CREATE INDEX hits_read ON hits (read_id);
CREATE INDEX hits_created ON hits (created_at);

CREATE TABLE legal_holds (
    id INTEGER PRIMARY KEY,
    read_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    case_number TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    released_by INTEGER,
    released_by_name TEXT,
    released_at INTEGER,
    release_note TEXT
);
CREATE INDEX legal_holds_read ON legal_holds (read_id);

CREATE TABLE purge_receipts (
    id INTEGER PRIMARY KEY,
    run_at INTEGER NOT NULL,
    receipt TEXT NOT NULL,
    signature BLOB NOT NULL,
    public_key BLOB NOT NULL
);
