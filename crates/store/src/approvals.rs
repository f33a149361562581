//! Requests that wait for a second person's approval (separation of duties). The rule of
//! who may start and who may approve lives in `candor_policy::DualControl`; this module only
//! stores requests and decides each one once.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

/// One request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub id: i64,
    /// `candor_policy::DualControl` code (`access.grant`, `user.password_reset`, …).
    pub kind: String,
    /// The account the change is about (none for an account still to be created).
    pub target_user_id: Option<i64>,
    /// What the change needs, as JSON (a role, a password hash); `{}` once decided.
    pub payload: String,
    /// A line for people: what will change.
    pub summary: String,
    pub requested_by: i64,
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_by: Option<i64>,
    pub decided_at: Option<i64>,
    /// `approved` or `rejected` once decided.
    pub outcome: Option<String>,
}

/// What is needed to file a request.
#[derive(Debug, Clone)]
pub struct NewApprovalRequest {
    pub kind: String,
    pub target_user_id: Option<i64>,
    pub payload: String,
    pub summary: String,
    pub requested_by: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, kind, target_user_id, payload, summary, requested_by, requested_at, \
     expires_at, decided_by, decided_at, outcome";

fn from_row(row: &AnyRow) -> Result<ApprovalRequest, StoreError> {
    Ok(ApprovalRequest {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        target_user_id: row.try_get("target_user_id")?,
        payload: row.try_get("payload")?,
        summary: row.try_get("summary")?,
        requested_by: row.try_get("requested_by")?,
        requested_at: row.try_get("requested_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        outcome: row.try_get("outcome")?,
    })
}

impl Store {
    /// Files a request; it waits until decided or until `expires_at`.
    pub async fn file_approval_request(
        &self,
        req: &NewApprovalRequest,
        now: i64,
    ) -> Result<ApprovalRequest, StoreError> {
        let row = sqlx::query(
            "INSERT INTO approval_requests (kind, target_user_id, payload, summary, requested_by, requested_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&req.kind)
        .bind(req.target_user_id)
        .bind(&req.payload)
        .bind(&req.summary)
        .bind(req.requested_by)
        .bind(now)
        .bind(req.expires_at)
        .fetch_one(self.pool())
        .await?;
        let id: i64 = row.try_get("id")?;
        self.approval_request(id)
            .await?
            .ok_or_else(|| StoreError::Invalid("the request just filed is missing".into()))
    }

    pub async fn approval_request(&self, id: i64) -> Result<Option<ApprovalRequest>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM approval_requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Undecided requests that have not expired at `now`, oldest first.
    pub async fn open_approval_requests(
        &self,
        now: i64,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approval_requests WHERE decided_at IS NULL AND expires_at > $1 \
             ORDER BY requested_at, id LIMIT 500"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Decides an open request once: true when this call decided it, false when it was
    /// already decided (or expired) by then. The payload is cleared.
    pub async fn decide_approval_request(
        &self,
        id: i64,
        decided_by: i64,
        outcome: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE approval_requests SET decided_by = $2, decided_at = $3, outcome = $4, payload = '{}' \
             WHERE id = $1 AND decided_at IS NULL AND expires_at > $3",
        )
        .bind(id)
        .bind(decided_by)
        .bind(now)
        .bind(outcome)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether any active account holds `role`.
    pub async fn active_users_with_role(&self, role: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = $1 AND disabled = 0")
            .bind(role)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
