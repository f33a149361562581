//! The versioned policy document and users' acknowledgements. The document is stored as
//! the JSON the server gives it; candor-policy reads and checks it. Storing a version also
//! applies its retention to what is already stored, in the same transaction.

use sqlx::Row;

use crate::retention::{RetentionPolicy, Shortened};
use crate::{Store, StoreError};

/// One stored version of the policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub version: i64,
    /// The document, JSON.
    pub document: String,
    pub created_at: i64,
    /// `None` for the defaults stored at first start.
    pub created_by: Option<i64>,
}

impl Store {
    /// The newest policy version, if any was stored.
    pub async fn current_policy(&self) -> Result<Option<PolicyVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT version, document, created_at, created_by FROM policy_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(PolicyVersion {
                version: r.try_get("version")?,
                document: r.try_get("document")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
            })
        })
        .transpose()
    }

    /// Every version, newest first.
    pub async fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let rows = sqlx::query("SELECT version, document, created_at, created_by FROM policy_versions ORDER BY version DESC")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PolicyVersion {
                    version: r.try_get("version")?,
                    document: r.try_get("document")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    /// Stores a new version and, in the same transaction, shortens the reads and images
    /// already stored to `retention`, the new document's periods (only ever shorter: see
    /// `retention::shorten_to`); returns what was shortened.
    /// [`StoreError::Conflict`] when that version number exists (two editors raced: reload
    /// and edit again).
    pub async fn save_policy_version(
        &self,
        version: i64,
        document: &str,
        retention: &RetentionPolicy,
        created_by: Option<i64>,
        now: i64,
    ) -> Result<Shortened, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO policy_versions (version, document, created_at, created_by) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(document)
            .bind(now)
            .bind(created_by)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)
            .map_err(|e| {
                if e.is_unique_violation() {
                    StoreError::Conflict(format!("policy version {version} already exists; reload the policy and edit again"))
                } else {
                    e
                }
            })?;
        let shortened = crate::retention::shorten_to(&mut tx, retention).await?;
        tx.commit().await?;
        Ok(shortened)
    }

    /// Records that a user acknowledged `version` (again is fine).
    pub async fn acknowledge_policy(
        &self,
        user_id: i64,
        version: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let exists = sqlx::query(
            "SELECT 1 AS one FROM policy_acknowledgements WHERE user_id = $1 AND version = $2",
        )
        .bind(user_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        if exists.is_none() {
            sqlx::query("INSERT INTO policy_acknowledgements (user_id, version, acknowledged_at) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(version)
                .bind(now)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// The newest version a user acknowledged.
    pub async fn acknowledged_policy_version(
        &self,
        user_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MAX(version) AS v FROM policy_acknowledgements WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(self.pool())
                .await?;
        Ok(row.try_get("v")?)
    }
}
