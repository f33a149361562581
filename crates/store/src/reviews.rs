//! The review queue: searches picked for a supervisor's review (sampled or flagged), and
//! the reviews given.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    pub id: i64,
    /// The audit record of the search under review.
    pub audit_seq: i64,
    /// Who searched.
    pub user_id: i64,
    /// Why it was picked: `sample`, `long_range`, `many_results`, `many_queries_today`, …
    pub reasons: Vec<String>,
    pub created_at: i64,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
    /// `approved` or `concern`.
    pub verdict: Option<String>,
    pub note: Option<String>,
}

const COLUMNS: &str =
    "id, audit_seq, user_id, reasons, created_at, reviewed_by, reviewed_at, verdict, note";

fn item_from_row(r: &AnyRow) -> Result<ReviewItem, StoreError> {
    let reasons: String = r.try_get("reasons")?;
    Ok(ReviewItem {
        id: r.try_get("id")?,
        audit_seq: r.try_get("audit_seq")?,
        user_id: r.try_get("user_id")?,
        reasons: reasons
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: r.try_get("created_at")?,
        reviewed_by: r.try_get("reviewed_by")?,
        reviewed_at: r.try_get("reviewed_at")?,
        verdict: r.try_get("verdict")?,
        note: r.try_get("note")?,
    })
}

/// Counts for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReviewCounts {
    pub pending: i64,
    pub approved: i64,
    pub concern: i64,
}

impl Store {
    /// Puts a search in the review queue.
    pub async fn enqueue_review(
        &self,
        audit_seq: i64,
        user_id: i64,
        reasons: &[&str],
        now: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO review_items (audit_seq, user_id, reasons, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(audit_seq)
        .bind(user_id)
        .bind(reasons.join(","))
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Items waiting for review (oldest first), or reviewed ones (newest first).
    pub async fn review_items(
        &self,
        pending: bool,
        limit: i64,
    ) -> Result<Vec<ReviewItem>, StoreError> {
        let sql = if pending {
            format!(
                "SELECT {COLUMNS} FROM review_items WHERE reviewed_at IS NULL ORDER BY id LIMIT $1"
            )
        } else {
            format!(
                "SELECT {COLUMNS} FROM review_items WHERE reviewed_at IS NOT NULL ORDER BY reviewed_at DESC, id DESC LIMIT $1"
            )
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    pub async fn review_item(&self, id: i64) -> Result<Option<ReviewItem>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM review_items WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    /// Records a review; [`StoreError::Conflict`] when the item was already reviewed.
    pub async fn record_review(
        &self,
        id: i64,
        reviewer: i64,
        verdict: &str,
        note: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE review_items SET reviewed_by = $2, reviewed_at = $3, verdict = $4, note = $5 \
             WHERE id = $1 AND reviewed_at IS NULL",
        )
        .bind(id)
        .bind(reviewer)
        .bind(now)
        .bind(verdict)
        .bind(note)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.review_item(id).await? {
            Some(_) => Err(StoreError::Conflict(format!(
                "review item {id} was already reviewed"
            ))),
            None => Err(StoreError::not_found(format!("review item {id}"))),
        }
    }

    pub async fn review_counts(&self) -> Result<ReviewCounts, StoreError> {
        let row = sqlx::query(
            "SELECT \
             SUM(CASE WHEN reviewed_at IS NULL THEN 1 ELSE 0 END) AS pending, \
             SUM(CASE WHEN verdict = 'approved' THEN 1 ELSE 0 END) AS approved, \
             SUM(CASE WHEN verdict = 'concern' THEN 1 ELSE 0 END) AS concern FROM review_items",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(ReviewCounts {
            pending: row.try_get::<Option<i64>, _>("pending")?.unwrap_or(0),
            approved: row.try_get::<Option<i64>, _>("approved")?.unwrap_or(0),
            concern: row.try_get::<Option<i64>, _>("concern")?.unwrap_or(0),
        })
    }

    /// Searches (`search.reads` records) by this actor since `since` (ms).
    pub async fn count_searches_since(
        &self,
        actor_json: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'search.reads' AND actor = $1 AND time >= $2",
        )
        .bind(actor_json)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }
}
