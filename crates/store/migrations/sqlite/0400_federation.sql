-- Federation: sharing agreements with partner agencies, their signatures and revocations,
-- replay protection for signed requests, hits received from partners, the durable outbox
-- of notifications to partners, and the log of shared queries (both directions).

CREATE TABLE agreements (
    id TEXT PRIMARY KEY,
    -- The agreement terms as signed (JSON, candor-agreement/1).
    terms TEXT NOT NULL,
    partner_agency TEXT NOT NULL,
    partner_url TEXT NOT NULL,
    partner_key TEXT NOT NULL,
    -- One line a member of the public can read: what is shared, within which limits.
    scope_summary TEXT NOT NULL,
    effective_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE agreement_signatures (
    agreement_id TEXT NOT NULL REFERENCES agreements(id),
    public_key TEXT NOT NULL,
    signer TEXT NOT NULL,
    signed_at INTEGER NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (agreement_id, public_key)
);

CREATE TABLE agreement_revocations (
    agreement_id TEXT PRIMARY KEY REFERENCES agreements(id),
    revoked_at INTEGER NOT NULL,
    -- 'local' (this agency's program manager) or 'partner' (pushed by the partner).
    side TEXT NOT NULL,
    revoked_by TEXT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE federation_nonces (
    agreement_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (agreement_id, nonce)
);
CREATE INDEX federation_nonces_seen ON federation_nonces (seen_at);

CREATE TABLE received_hits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The agreement it came through: received data is never shared onward.
    agreement_id TEXT NOT NULL REFERENCES agreements(id),
    partner_agency TEXT NOT NULL,
    hit_type TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    key_window INTEGER NOT NULL,
    -- The notification (plate and details), sealed with the window key.
    sealed BLOB NOT NULL
);
CREATE INDEX received_hits_expiry ON received_hits (expires_at);

CREATE TABLE federation_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agreement_id TEXT NOT NULL REFERENCES agreements(id),
    -- 'hit' or 'revocation'
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    key_window INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at INTEGER,
    gave_up_at INTEGER,
    last_error TEXT
);
CREATE INDEX federation_outbox_due ON federation_outbox (delivered_at, gave_up_at, next_attempt_at);

CREATE TABLE federation_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agreement_id TEXT NOT NULL,
    -- 'incoming' (a partner asked us) or 'outgoing' (our user asked a partner)
    direction TEXT NOT NULL,
    partner_agency TEXT NOT NULL,
    user_name TEXT NOT NULL,
    user_role TEXT NOT NULL,
    purpose_category TEXT NOT NULL,
    case_number TEXT NOT NULL,
    -- 'answered', 'denied' or 'failed'
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    result_count INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX federation_requests_at ON federation_requests (at);
