//! Test databases for the shared store test suite and the server's integration tests.
//!
//! Every test runs against SQLite in a temporary directory, and also against PostgreSQL when
//! `CANDOR_TEST_DATABASE_URL` is set (CI sets it). Each PostgreSQL test gets a fresh schema,
//! selected through `search_path`, and drops it when finished.

use std::path::PathBuf;

use sqlx::{Connection, Executor};

use crate::retention::RetentionPolicy;
use crate::{Backend, Store, StoreError};

/// Retention periods for store tests, as policy version 1: reads without a hit and images
/// 30 days, hits and audit records a year. Any periods would do: the server's come from the
/// published policy.
pub fn retention() -> RetentionPolicy {
    const DAY: i64 = 86_400;
    RetentionPolicy {
        policy_version: 1,
        non_hit_secs: 30 * DAY,
        hit_secs: 365 * DAY,
        image_secs: 30 * DAY,
        audit_secs: 365 * DAY,
    }
}

/// An audit record for a store function that commits one with its change (a verdict, an
/// action), where the record's content is not what the test is about.
pub fn audit_entry(action: &str) -> candor_audit::AuditEntry {
    candor_audit::AuditEntry::new(
        chrono::Utc::now(),
        candor_audit::Actor::System {
            component: "test".into(),
        },
        action,
        "test",
        candor_audit::Outcome::Success,
    )
}

/// One isolated database for one test.
pub struct TestDb {
    pub backend: Backend,
    /// The url to pass to [`Store::open`].
    pub url: String,
    /// Temporary directory (the SQLite file lives here); kept alive for the test.
    pub dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite database in a temporary directory.
    pub fn sqlite() -> Result<TestDb, StoreError> {
        let dir = tempfile::TempDir::new().map_err(|source| StoreError::Io {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
        let url = format!("sqlite://{}", dir.path().join("candor.db").display());
        Ok(TestDb {
            backend: Backend::Sqlite,
            url,
            dir,
            schema: None,
        })
    }

    /// A fresh schema on the PostgreSQL server named by `CANDOR_TEST_DATABASE_URL`, or
    /// `None` when the variable is unset.
    pub async fn postgres() -> Result<Option<TestDb>, StoreError> {
        let Ok(base) = std::env::var("CANDOR_TEST_DATABASE_URL") else {
            return Ok(None);
        };
        if base.is_empty() {
            return Ok(None);
        }
        Self::postgres_at(&base).await.map(Some)
    }

    /// A fresh schema on the PostgreSQL server at `base`.
    pub async fn postgres_at(base: &str) -> Result<TestDb, StoreError> {
        let base = base.to_string();
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base).await?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await?;
        conn.close().await?;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let dir = tempfile::TempDir::new().map_err(|source| StoreError::Io {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
        Ok(TestDb {
            backend: Backend::Postgres,
            url,
            dir,
            schema: Some((base, schema)),
        })
    }

    /// SQLite, plus PostgreSQL when configured: the backends every store test runs on.
    pub async fn all() -> Result<Vec<TestDb>, StoreError> {
        let mut dbs = vec![TestDb::sqlite()?];
        if let Some(pg) = TestDb::postgres().await? {
            dbs.push(pg);
        }
        Ok(dbs)
    }

    /// Opens the store on this database.
    pub async fn open(&self) -> Result<Store, StoreError> {
        Store::open(&self.url).await
    }

    /// A scratch directory for this test (data dir, key files).
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Drops the PostgreSQL schema (no-op on SQLite; the directory goes on drop).
    pub async fn finish(self) -> Result<(), StoreError> {
        if let Some((base, schema)) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(base).await?;
            conn.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await?;
            conn.close().await?;
        }
        Ok(())
    }
}
