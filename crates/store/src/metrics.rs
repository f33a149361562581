//! Usage metrics for reports and the transparency page: counts per UTC day, by metric and
//! breakdown label, on both backends.
//!
//! Events whose records are purged or pruned later (reads, hits, their dispositions and
//! actions, searches) are counted in `usage_counts` in the same transaction that records
//! them, so their counts outlive the records. Events whose records are kept (user hot
//! plates, reviews, legal holds, purge receipts) are counted from those records when asked.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::{Store, StoreError, Tx};

const DAY_MS: i64 = 86_400_000;

/// Metric names, as stored in `usage_counts` and returned by [`Store::usage_counts`].
pub mod metric {
    /// Plate reads (detections), by capture day.
    pub const READS: &str = "reads";
    /// Hot-list hits, labelled by hit type (NCIC list code or the list's own type), by the
    /// capture day of the read.
    pub const HITS: &str = "hits";
    /// Verdicts on hits (`correct_read`, `wrong_state`, `misread`, `dismissed`), by the
    /// capture day of the hit's read.
    pub const DISPOSITIONS: &str = "dispositions";
    /// Actions after a verified hit (`none`, `stop`, `arrest`, `other`), likewise.
    pub const ACTIONS: &str = "actions";
    /// Searches of reads, labelled by purpose category, by search day.
    pub const SEARCHES: &str = "searches";
    /// Searches of reads, labelled by the searching user's id, by search day.
    pub const SEARCHES_BY_USER: &str = "searches_by_user";
    /// User-entered hot plates, labelled by their status now, by entry day.
    pub const USER_HOT_PLATES: &str = "user_hot_plates";
    /// Supervisor reviews of searches, labelled by verdict (`approved`, `concern`), by
    /// review day.
    pub const REVIEWS: &str = "reviews";
    /// Purge runs, by run day.
    pub const PURGES: &str = "purges";
    /// Records deleted by purges, labelled by class (`non_hit_reads`, `hit_reads`, `hits`,
    /// `images`), by run day.
    pub const RECORDS_PURGED: &str = "records_purged";
    /// Legal holds placed, by day placed.
    pub const LEGAL_HOLDS_PLACED: &str = "legal_holds_placed";
    /// Legal holds released, by day released.
    pub const LEGAL_HOLDS_RELEASED: &str = "legal_holds_released";
}

/// One count: how many `metric` events (of kind `label`) on the UTC day starting at `day`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayCount {
    /// Unix milliseconds at the start of the UTC day.
    pub day: i64,
    pub metric: String,
    pub label: String,
    pub count: i64,
}

/// The start of the UTC day holding `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// Counts gathered in memory, then written with one upsert each.
#[derive(Debug, Default)]
pub(crate) struct Tally(BTreeMap<(i64, &'static str, String), i64>);

impl Tally {
    pub(crate) fn add(&mut self, at_ms: i64, metric: &'static str, label: &str, n: i64) {
        *self
            .0
            .entry((day_of(at_ms), metric, label.to_string()))
            .or_default() += n;
    }

    /// Adds the counts inside the caller's transaction.
    pub(crate) async fn write(self, tx: &mut Tx) -> Result<(), StoreError> {
        for ((day, metric, label), n) in self.0 {
            sqlx::query(
                "INSERT INTO usage_counts (day, metric, label, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (day, metric, label) DO UPDATE SET count = usage_counts.count + excluded.count",
            )
            .bind(day)
            .bind(metric)
            .bind(label)
            .bind(n)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

/// Counts one search (by purpose category and by user) inside the caller's transaction,
/// the one that appends its audit record.
pub async fn count_search(
    tx: &mut Tx,
    at_ms: i64,
    purpose_category: &str,
    user_id: i64,
) -> Result<(), StoreError> {
    let mut tally = Tally::default();
    tally.add(at_ms, metric::SEARCHES, purpose_category, 1);
    tally.add(at_ms, metric::SEARCHES_BY_USER, &user_id.to_string(), 1);
    tally.write(tx).await
}

impl Store {
    /// Every count on the UTC days in `[from, to)` (Unix ms; `from` is rounded down to its
    /// day), sorted by day, metric and label.
    pub async fn usage_counts(&self, from: i64, to: i64) -> Result<Vec<DayCount>, StoreError> {
        let from = day_of(from);
        let mut tally: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
        let mut add = |day: i64, metric: &str, label: String, n: i64| {
            if n != 0 && day >= from && day < to {
                *tally.entry((day, metric.to_string(), label)).or_default() += n;
            }
        };

        let rows = sqlx::query(
            "SELECT day, metric, label, count FROM usage_counts WHERE day >= $1 AND day < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        for r in &rows {
            add(
                r.try_get("day")?,
                &r.try_get::<String, _>("metric")?,
                r.try_get("label")?,
                r.try_get("count")?,
            );
        }

        // Counted from kept records. Days are computed here, not in SQL, so both backends
        // agree on rounding.
        let grouped = [
            (
                metric::USER_HOT_PLATES,
                "SELECT entered_at AS t, status AS label FROM user_hot_plates WHERE entered_at >= $1 AND entered_at < $2",
            ),
            (
                metric::REVIEWS,
                "SELECT reviewed_at AS t, verdict AS label FROM review_items \
                 WHERE reviewed_at IS NOT NULL AND reviewed_at >= $1 AND reviewed_at < $2",
            ),
            (
                metric::LEGAL_HOLDS_PLACED,
                "SELECT created_at AS t, '' AS label FROM legal_holds WHERE created_at >= $1 AND created_at < $2",
            ),
            (
                metric::LEGAL_HOLDS_RELEASED,
                "SELECT released_at AS t, '' AS label FROM legal_holds \
                 WHERE released_at IS NOT NULL AND released_at >= $1 AND released_at < $2",
            ),
        ];
        for (name, sql) in grouped {
            let rows = sqlx::query(sql)
                .bind(from)
                .bind(to)
                .fetch_all(self.pool())
                .await?;
            for r in &rows {
                let t: i64 = r.try_get("t")?;
                let label: Option<String> = r.try_get("label")?;
                add(day_of(t), name, label.unwrap_or_default(), 1);
            }
        }

        let rows = sqlx::query(
            "SELECT run_at, receipt FROM purge_receipts WHERE run_at >= $1 AND run_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        for r in &rows {
            let run_at: i64 = r.try_get("run_at")?;
            let text: String = r.try_get("receipt")?;
            let receipt: crate::retention::PurgeReceipt = serde_json::from_str(&text)
                .map_err(|e| StoreError::Invalid(format!("stored purge receipt: {e}")))?;
            let day = day_of(run_at);
            add(day, metric::PURGES, String::new(), 1);
            let c = &receipt.counts;
            for (class, n) in [
                ("non_hit_reads", c.non_hit_reads),
                ("hit_reads", c.hit_reads),
                ("hits", c.hits),
                ("images", c.images),
            ] {
                add(day, metric::RECORDS_PURGED, class.to_string(), n);
            }
        }

        Ok(tally
            .into_iter()
            .map(|((day, metric, label), count)| DayCount {
                day,
                metric,
                label,
                count,
            })
            .collect())
    }

    /// Legal holds in force now (a state, not an event count).
    pub async fn active_hold_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM legal_holds WHERE released_at IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }
}
