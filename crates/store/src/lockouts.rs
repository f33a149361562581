//! Failed sign-ins in a row, per account and source, and the locks they set.
//!
//! A source is the key the server counts a client's address under (an IPv4 address, an IPv6
//! address by its /64); it is cut to [`MAX_SOURCE_BYTES`] before it is stored. The
//! `max_failures`-th failure in a row from one source locks the account *from that source*
//! until a time; other sources are not affected, so a stranger cannot lock out the real
//! user from elsewhere. A correct sign-in from a source clears that source's row; an
//! administrator's unlock clears every row of the account.
//!
//! A stranger chooses the sources, so at most [`MAX_SOURCES_PER_ACCOUNT`] rows are kept per
//! account: a new source makes room by forgetting, first, sources without a lock in force,
//! the one that failed least recently first. How many failures lock, and for how long, is
//! the server's decision (`candor_server::auth::throttle`); this module stores what it is
//! given.

use sqlx::Row;

use crate::{Store, StoreError};

/// Longest source key stored; the server's keys are far shorter (an IPv6 /64 is 24 bytes).
pub const MAX_SOURCE_BYTES: usize = 64;
/// Sources remembered per account, whatever a stranger sends from how many addresses.
pub const MAX_SOURCES_PER_ACCOUNT: usize = 32;

/// The outcome of recording a failed sign-in from one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailure {
    /// Failures in a row from this source so far (0 right after this source was locked).
    pub failed_in_a_row: i64,
    /// Set when this failure locked the account from this source.
    pub locked_until: Option<i64>,
}

/// A lock in force: the account refuses sign-ins from `source` until `locked_until` (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLock {
    pub user_id: i64,
    pub source: String,
    pub locked_until: i64,
}

/// `source` cut to [`MAX_SOURCE_BYTES`] (at a character boundary), as it is stored.
pub fn bounded_source(source: &str) -> &str {
    if source.len() <= MAX_SOURCE_BYTES {
        return source;
    }
    let mut end = MAX_SOURCE_BYTES;
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    &source[..end]
}

impl Store {
    /// Counts a failed sign-in of `user_id` from `source`; the `max_failures`-th in a row
    /// locks the account from that source until `now + lock_ms` and resets its count. One
    /// transaction, so concurrent failures are all counted.
    pub async fn record_login_failure(
        &self,
        user_id: i64,
        source: &str,
        now: i64,
        max_failures: i64,
        lock_ms: i64,
    ) -> Result<LoginFailure, StoreError> {
        let source = bounded_source(source);
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO sign_in_failures (user_id, source, failed_in_a_row, last_failed_at) \
             VALUES ($1, $2, 1, $3) \
             ON CONFLICT (user_id, source) DO UPDATE \
             SET failed_in_a_row = sign_in_failures.failed_in_a_row + 1, last_failed_at = $3 \
             RETURNING failed_in_a_row",
        )
        .bind(user_id)
        .bind(source)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::not_found(format!("user {user_id}"))
            }
            e => e.into(),
        })?;
        let failed: i64 = row.try_get("failed_in_a_row")?;
        let outcome = if failed >= max_failures {
            let until = now + lock_ms;
            sqlx::query(
                "UPDATE sign_in_failures SET failed_in_a_row = 0, locked_until = $3 \
                 WHERE user_id = $1 AND source = $2",
            )
            .bind(user_id)
            .bind(source)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            LoginFailure {
                failed_in_a_row: 0,
                locked_until: Some(until),
            }
        } else {
            LoginFailure {
                failed_in_a_row: failed,
                locked_until: None,
            }
        };
        // Keep the account's rows bounded: forget unlocked sources first, stalest first.
        let others = sqlx::query(
            "SELECT source FROM sign_in_failures WHERE user_id = $1 AND source <> $2 \
             ORDER BY CASE WHEN locked_until > $3 THEN 1 ELSE 0 END, last_failed_at, source",
        )
        .bind(user_id)
        .bind(source)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let excess = (others.len() + 1).saturating_sub(MAX_SOURCES_PER_ACCOUNT);
        for row in others.iter().take(excess) {
            let victim: String = row.try_get("source")?;
            sqlx::query("DELETE FROM sign_in_failures WHERE user_id = $1 AND source = $2")
                .bind(user_id)
                .bind(victim)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Until when the account refuses sign-ins from `source`, if a lock is in force at `now`.
    pub async fn source_locked_until(
        &self,
        user_id: i64,
        source: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT locked_until FROM sign_in_failures \
             WHERE user_id = $1 AND source = $2 AND locked_until > $3",
        )
        .bind(user_id)
        .bind(bounded_source(source))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("locked_until")).transpose()?)
    }

    /// The locks in force at `now`, of one account (`Some`) or of all, latest ending first.
    pub async fn sign_in_locks(
        &self,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<Vec<SourceLock>, StoreError> {
        let of_user = if user_id.is_some() {
            "AND user_id = $2"
        } else {
            ""
        };
        let sql = format!(
            "SELECT user_id, source, locked_until FROM sign_in_failures \
             WHERE locked_until > $1 {of_user} ORDER BY locked_until DESC, user_id, source"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        if let Some(id) = user_id {
            q = q.bind(id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(SourceLock {
                    user_id: r.try_get("user_id")?,
                    source: r.try_get("source")?,
                    locked_until: r.try_get("locked_until")?,
                })
            })
            .collect()
    }

    /// After a correct sign-in from `source`: forgets that source's failures (and a lock
    /// that has run out) and marks the account active.
    pub async fn record_login_success(
        &self,
        user_id: i64,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE user_id = $1 AND source = $2")
            .bind(user_id)
            .bind(bounded_source(source))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET last_active_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lifts every lock of an account and forgets its failures (an administrator's action);
    /// returns how many locks were in force at `now`.
    pub async fn unlock_user(&self, user_id: i64, now: i64) -> Result<u64, StoreError> {
        if self.user_by_id(user_id).await?.is_none() {
            return Err(StoreError::not_found(format!("user {user_id}")));
        }
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM sign_in_failures WHERE user_id = $1 AND locked_until > $2",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let in_force: i64 = row.try_get("n")?;
        sqlx::query("DELETE FROM sign_in_failures WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(u64::try_from(in_force).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_cut_at_a_character_boundary() {
        assert_eq!(bounded_source("2001:db8:1:2::/64"), "2001:db8:1:2::/64");
        let long = "é".repeat(100);
        let cut = bounded_source(&long);
        assert!(cut.len() <= MAX_SOURCE_BYTES && cut.len() >= MAX_SOURCE_BYTES - 1);
        assert!(long.starts_with(cut));
    }
}
