-- Audit checkpoints that partner agencies sent to be witnessed, under a sharing agreement:
-- one row per agreement and day (the newest of that day), so that the history stays
-- small and an older one remains to verify a partner's chain against. The partner's audit
-- key is pinned by the first row of an agreement; every later row carries the same key.
-- (What this instance sends to be witnessed goes through federation_outbox, kind
-- 'checkpoint'.)

CREATE TABLE witnessed_checkpoints (
    agreement_id TEXT NOT NULL REFERENCES agreements(id),
    -- Unix day (UTC) of witnessed_at.
    witnessed_day BIGINT NOT NULL,
    partner_agency TEXT NOT NULL,
    -- The partner's audit public key, hex.
    public_key TEXT NOT NULL,
    length BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    -- When the partner signed it (Unix ms).
    signed_at BIGINT NOT NULL,
    -- The signed statement, exactly as received.
    statement TEXT NOT NULL,
    witnessed_at BIGINT NOT NULL,
    PRIMARY KEY (agreement_id, witnessed_day)
);
