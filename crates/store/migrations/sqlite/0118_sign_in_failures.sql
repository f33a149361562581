-- Access: failed sign-ins in a row per account and source (an IPv4 address, an IPv6 /64),
-- replacing the account-wide count. Enough failures in a row from one source lock the
-- account from that source only, so a stranger cannot lock out the real user signing in
-- from elsewhere (the numbers: candor_server::auth::throttle). The rows kept per account
-- are bounded (candor_store::lockouts). A lock in force at the upgrade named no source and
-- is lifted with the old columns.
CREATE TABLE sign_in_failures (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    failed_in_a_row INTEGER NOT NULL,
    locked_until INTEGER,
    last_failed_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, source)
);
CREATE INDEX sign_in_failures_locked ON sign_in_failures (locked_until);
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
