//! User accounts: identity, role, argon2id password hash, TOTP second factor and recovery
//! codes (failed sign-ins and lockouts, per source: [`crate::lockouts`]). Roles are stored as their policy names; the
//! server turns them into `candor_policy::Role`. Hashing and code checking happen in the
//! server; this module only stores what it is given.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::keys::KeyRing;
use crate::{Store, StoreError};

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// Policy role name (`administrator`, `program_manager`, …).
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The TOTP secret, sealed (see [`User::totp_secret`]); present from the start of
    /// enrolment.
    pub totp_sealed: Option<Vec<u8>>,
    /// True once the user has confirmed a code from the secret.
    pub totp_enabled: bool,
    /// Last TOTP time step accepted (codes at or before it are refused as replays).
    pub totp_last_step: Option<i64>,
    pub disabled: bool,
    /// Last authenticated request (ms), for the idle-account lapse.
    pub last_active_at: Option<i64>,
    /// The program manager who granted access to plate data, and when; `None` until granted
    /// (or after revocation).
    pub access_granted_by: Option<i64>,
    pub access_granted_at: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<i64>,
    /// True when an administrator set the password: its owner must choose a new one at the
    /// next sign-in.
    pub password_must_change: bool,
}

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub created_by: Option<i64>,
}

const USER_COLUMNS: &str = "id, username, display_name, role, password_hash, totp_sealed, \
     totp_enabled, totp_last_step, disabled, last_active_at, \
     access_granted_by, access_granted_at, created_at, created_by, password_must_change";

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: row.try_get("role")?,
        password_hash: row.try_get("password_hash")?,
        totp_sealed: row.try_get("totp_sealed")?,
        totp_enabled: row.try_get::<i64, _>("totp_enabled")? != 0,
        totp_last_step: row.try_get("totp_last_step")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        last_active_at: row.try_get("last_active_at")?,
        access_granted_by: row.try_get("access_granted_by")?,
        access_granted_at: row.try_get("access_granted_at")?,
        password_must_change: row.try_get::<i64, _>("password_must_change")? != 0,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

fn totp_aad(user_id: i64) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

impl User {
    /// The TOTP secret, opened with the data directory's keys.
    pub fn totp_secret(&self, keys: &KeyRing) -> Result<Option<Vec<u8>>, StoreError> {
        self.totp_sealed
            .as_deref()
            .map(|sealed| keys.open_secret(&totp_aad(self.id), sealed))
            .transpose()
    }
}

impl Store {
    /// Seals TOTP secrets stored in clear by earlier versions and clears the old column;
    /// returns how many were sealed. Run at start-up, before any sign-in.
    pub async fn seal_legacy_totp_secrets(&self, keys: &KeyRing) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL")
            .fetch_all(self.pool())
            .await?;
        let mut tx = self.begin().await?;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let secret: Vec<u8> = row.try_get("totp_secret")?;
            sqlx::query("UPDATE users SET totp_sealed = $2, totp_secret = NULL WHERE id = $1")
                .bind(id)
                .bind(keys.seal_secret(&totp_aad(id), &secret)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

/// Usernames are short, lower-case identifiers so that they read unambiguously in audit
/// records: letters, digits, `.`, `_`, `-`; 2 to 64 characters; starting with a letter.
pub fn check_username(username: &str) -> Result<(), StoreError> {
    let ok_len = (2..=64).contains(&username.len());
    let ok_first = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok_len && ok_first && ok_chars {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "username {username:?} is not allowed: use 2 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter"
        )))
    }
}

impl Store {
    /// Creates an account. Fails with [`StoreError::Conflict`] when the username is taken.
    pub async fn create_user(&self, new: &NewUser, now: i64) -> Result<User, StoreError> {
        check_username(&new.username)?;
        let sql = format!(
            "INSERT INTO users (username, display_name, role, password_hash, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&new.username)
            .bind(&new.display_name)
            .bind(&new.role)
            .bind(&new.password_hash)
            .bind(now)
            .bind(new.created_by)
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::from)
            .map_err(|e| {
                if e.is_unique_violation() {
                    StoreError::Conflict(format!(
                        "the username {:?} is already taken",
                        new.username
                    ))
                } else {
                    e
                }
            })?;
        user_from_row(&row)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every account, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Stores a fresh TOTP secret for enrolment, sealed; the factor stays off until
    /// confirmed.
    pub async fn begin_totp_enrolment(
        &self,
        keys: &KeyRing,
        user_id: i64,
        secret: &[u8],
    ) -> Result<(), StoreError> {
        let sealed = keys.seal_secret(&totp_aad(user_id), secret)?;
        let done = sqlx::query(
            "UPDATE users SET totp_sealed = $2, totp_secret = NULL, totp_enabled = 0, totp_last_step = NULL WHERE id = $1",
        )
        .bind(user_id)
        .bind(sealed)
        .execute(self.pool())
        .await?;
        expect_one(done.rows_affected(), user_id)
    }

    /// Turns the TOTP factor on after the user proved they hold the secret, replacing any
    /// earlier recovery codes with the given digests.
    pub async fn confirm_totp_enrolment(
        &self,
        user_id: i64,
        step: i64,
        recovery_code_digests: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_enabled = 1, totp_last_step = $2 WHERE id = $1 AND totp_sealed IS NOT NULL",
        )
        .bind(user_id)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), user_id)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for digest in recovery_code_digests {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_digest, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that TOTP step `step` was used, unless an equal or later step already was (a
    /// concurrent replay of the same code). Returns false when the step was refused.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends a recovery code: true when an unused code with this digest existed.
    pub async fn use_recovery_code(
        &self,
        user_id: i64,
        digest: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_digest = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Unused recovery codes left to the user.
    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Replaces the password hash.
    pub async fn set_password_hash(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_must_change = 0 WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(self.pool())
        .await?;
        expect_one(done.rows_affected(), user_id)
    }

    /// Sets a password an administrator chose: its owner must replace it at next sign-in.
    pub async fn set_admin_password_hash(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_must_change = 1 WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(self.pool())
        .await?;
        expect_one(done.rows_affected(), user_id)
    }

    /// Marks an account's password as set by an administrator (a new account).
    pub async fn require_password_change(&self, user_id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET password_must_change = 1 WHERE id = $1")
            .bind(user_id)
            .execute(self.pool())
            .await?;
        expect_one(done.rows_affected(), user_id)
    }

    pub async fn set_user_role(&self, user_id: i64, role: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(user_id)
            .bind(role)
            .execute(self.pool())
            .await?;
        expect_one(done.rows_affected(), user_id)
    }

    pub async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
            .bind(user_id)
            .bind(i64::from(disabled))
            .execute(self.pool())
            .await?;
        expect_one(done.rows_affected(), user_id)
    }

    /// Turns the TOTP factor off and deletes the recovery codes (an administrator's reset
    /// for a lost authenticator); the user enrols again at next sign-in.
    pub async fn reset_totp(&self, user_id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_sealed = NULL, totp_secret = NULL, totp_enabled = 0, totp_last_step = NULL WHERE id = $1",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), user_id)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_display_name(
        &self,
        user_id: i64,
        display_name: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
            .bind(user_id)
            .bind(display_name)
            .execute(self.pool())
            .await?;
        expect_one(done.rows_affected(), user_id)
    }

    /// Marks the account active at `now` (for the idle-account lapse).
    pub async fn touch_user(&self, user_id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_active_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// A training certificate on record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingCertificate {
    pub id: i64,
    pub user_id: i64,
    pub course: String,
    pub completed_at: i64,
    pub expires_at: i64,
    pub recorded_by: i64,
    pub recorded_at: i64,
}

impl Store {
    /// Records a completed training course for a user.
    pub async fn record_training(
        &self,
        user_id: i64,
        course: &str,
        completed_at: i64,
        expires_at: i64,
        recorded_by: i64,
        now: i64,
    ) -> Result<TrainingCertificate, StoreError> {
        if expires_at <= completed_at {
            return Err(StoreError::Invalid(
                "a training certificate must expire after its completion date".into(),
            ));
        }
        let row = sqlx::query(
            "INSERT INTO training_certificates (user_id, course, completed_at, expires_at, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(course)
        .bind(completed_at)
        .bind(expires_at)
        .bind(recorded_by)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(TrainingCertificate {
            id: row.try_get("id")?,
            user_id,
            course: course.to_string(),
            completed_at,
            expires_at,
            recorded_by,
            recorded_at: now,
        })
    }

    /// A user's certificates, newest expiry first.
    pub async fn training_certificates(
        &self,
        user_id: i64,
    ) -> Result<Vec<TrainingCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, course, completed_at, expires_at, recorded_by, recorded_at \
             FROM training_certificates WHERE user_id = $1 ORDER BY expires_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrainingCertificate {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    course: r.try_get("course")?,
                    completed_at: r.try_get("completed_at")?,
                    expires_at: r.try_get("expires_at")?,
                    recorded_by: r.try_get("recorded_by")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect()
    }

    /// The latest expiry among a user's certificates.
    pub async fn training_expiry(&self, user_id: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(expires_at) AS e FROM training_certificates WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("e")?)
    }

    /// Records a program manager's grant of access to plate data.
    pub async fn grant_access(
        &self,
        user_id: i64,
        granted_by: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET access_granted_by = $2, access_granted_at = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(granted_by)
        .bind(now)
        .execute(self.pool())
        .await?;
        expect_one(done.rows_affected(), user_id)
    }

    /// Withdraws the grant of access to plate data.
    pub async fn revoke_access(&self, user_id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET access_granted_by = NULL, access_granted_at = NULL WHERE id = $1",
        )
        .bind(user_id)
        .execute(self.pool())
        .await?;
        expect_one(done.rows_affected(), user_id)
    }
}

fn expect_one(rows: u64, user_id: i64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::not_found(format!("user {user_id}")))
    }
}
