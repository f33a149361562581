-- A password an administrator set (a new account, a reset) must be replaced by its owner at
-- the next sign-in: 1 until then.
ALTER TABLE users ADD COLUMN password_must_change INTEGER NOT NULL DEFAULT 0;
