-- Access: TOTP secrets sealed at rest (AES-256-GCM under a key derived from the data
-- directory's master key, bound to the user id). totp_secret held them in clear before;
-- the server seals any such row at start-up and clears the old column, which stays NULL.
ALTER TABLE users ADD COLUMN totp_sealed BLOB;
