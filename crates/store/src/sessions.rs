//! Sign-in sessions. The session token itself never reaches the database: only its SHA-256
//! digest, computed by the server. A session starts at stage `enrol` (password accepted,
//! TOTP still to be set up) or `full` (both factors accepted).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// How far sign-in has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Password accepted; the user must enrol a TOTP authenticator before anything else.
    Enrol,
    /// Password and second factor accepted.
    Full,
}

impl SessionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStage::Enrol => "enrol",
            SessionStage::Full => "full",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "enrol" => Ok(SessionStage::Enrol),
            "full" => Ok(SessionStage::Full),
            other => Err(StoreError::Invalid(format!(
                "unknown session stage {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_digest: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub stage: SessionStage,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ended_at: Option<i64>,
    pub ended_reason: Option<String>,
    pub remote_addr: String,
}

const SESSION_COLUMNS: &str = "id_digest, user_id, csrf_token, stage, created_at, last_seen_at, ended_at, ended_reason, remote_addr";

fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    let stage: String = row.try_get("stage")?;
    Ok(Session {
        id_digest: row.try_get("id_digest")?,
        user_id: row.try_get("user_id")?,
        csrf_token: row.try_get("csrf_token")?,
        stage: SessionStage::parse(&stage)?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        ended_at: row.try_get("ended_at")?,
        ended_reason: row.try_get("ended_reason")?,
        remote_addr: row.try_get("remote_addr")?,
    })
}

impl Store {
    pub async fn create_session(
        &self,
        id_digest: &str,
        user_id: i64,
        csrf_token: &str,
        stage: SessionStage,
        remote_addr: &str,
        now: i64,
    ) -> Result<Session, StoreError> {
        let sql = format!(
            "INSERT INTO sessions (id_digest, user_id, csrf_token, stage, created_at, last_seen_at, remote_addr) \
             VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING {SESSION_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_digest)
            .bind(user_id)
            .bind(csrf_token)
            .bind(stage.as_str())
            .bind(now)
            .bind(remote_addr)
            .fetch_one(self.pool())
            .await?;
        session_from_row(&row)
    }

    /// The session with this token digest, ended or not.
    pub async fn session(&self, id_digest: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_digest = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_digest)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Records activity on a live session, unless it has been idle since before
    /// `idle_cutoff` (then it is left for [`Store::end_session`]). Returns true when the
    /// session is live. Checked and updated in one statement, so an idle session cannot be
    /// revived by a racing request.
    pub async fn touch_session(
        &self,
        id_digest: &str,
        now: i64,
        idle_cutoff: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 \
             WHERE id_digest = $1 AND ended_at IS NULL AND last_seen_at >= $3",
        )
        .bind(id_digest)
        .bind(now)
        .bind(idle_cutoff)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a session from enrolment to fully signed in.
    pub async fn promote_session(&self, id_digest: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET stage = 'full' WHERE id_digest = $1 AND ended_at IS NULL",
        )
        .bind(id_digest)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found("live session"))
        }
    }

    /// Ends a session (sign-out, idle timeout). Returns false when it had already ended.
    pub async fn end_session(
        &self,
        id_digest: &str,
        now: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $2, ended_reason = $3 WHERE id_digest = $1 AND ended_at IS NULL",
        )
        .bind(id_digest)
        .bind(now)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every live session of a user (password change, disabled account, role change).
    pub async fn end_user_sessions(
        &self,
        user_id: i64,
        now: i64,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $2, ended_reason = $3 WHERE user_id = $1 AND ended_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Ends sessions idle since before `idle_cutoff`; returns how many.
    pub async fn end_idle_sessions(&self, now: i64, idle_cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1, ended_reason = 'idle' WHERE ended_at IS NULL AND last_seen_at < $2",
        )
        .bind(now)
        .bind(idle_cutoff)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
