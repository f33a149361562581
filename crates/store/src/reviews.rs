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

    /// Records one search by `user_id` (a keyed fingerprint of what was searched, never
    /// the plate) and returns the user's history as the review flags need it, this search
    /// included. Activity older than the baseline is dropped.
    pub async fn record_search_activity(
        &self,
        user_id: i64,
        at: i64,
        query_fingerprint: &[u8],
        partial: bool,
    ) -> Result<SearchHistory, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM search_activity WHERE user_id = $1 AND at < $2")
            .bind(user_id)
            .bind(at - BASELINE_MS - DAY_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO search_activity (user_id, at, query_fingerprint, partial) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(at)
        .bind(query_fingerprint)
        .bind(i64::from(partial))
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "SELECT at, query_fingerprint, partial FROM search_activity WHERE user_id = $1 AND at >= $2",
        )
        .bind(user_id)
        .bind(at - BASELINE_MS - DAY_MS)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut history = SearchHistory::default();
        for row in rows {
            let t: i64 = row.try_get("at")?;
            if t > at - DAY_MS {
                history.today += 1;
                if row.try_get::<i64, _>("partial")? != 0 {
                    history.partial_today += 1;
                }
            } else {
                history.baseline_times.push(t);
            }
            if t > at - 7 * DAY_MS
                && row.try_get::<Vec<u8>, _>("query_fingerprint")? == query_fingerprint
            {
                history.same_query_week += 1;
            }
        }
        Ok(history)
    }
}

const DAY_MS: i64 = 86_400_000;
/// How far back a user's usual pattern is taken from (before the last 24 hours).
pub const BASELINE_MS: i64 = 28 * DAY_MS;

/// A user's searches as the review flags see them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchHistory {
    /// Searches in the last 24 hours, the current one included.
    pub today: i64,
    /// Partial-plate searches in the last 24 hours, the current one included.
    pub partial_today: i64,
    /// Searches for the same plate or pattern in the last 7 days, the current one included.
    pub same_query_week: i64,
    /// Times (Unix ms) of the searches in the 28 days before the last 24 hours: the user's
    /// baseline.
    pub baseline_times: Vec<i64>,
}
