//! Store: SQLite (embedded default) and PostgreSQL behind one interface.
//!
//! Both backends are reached through sqlx's `Any` driver, so every query is written once in
//! portable SQL (one exception: audit verification reads SQLite with rusqlite, see
//! [`audit_log`]): numbered `$1` placeholders, timestamps as `i64` Unix milliseconds UTC, blobs
//! as bytes, no BOOLEAN or date types (flags are integers, dates are text). Each backend has
//! its own migration folder (`migrations/sqlite`, `migrations/postgres`), embedded in the
//! binary and run by [`Store::open`]. Ops migrations are numbered 0001–0099, access 0100–0199, reports 0300–0349, federation 0400–0449.
//!
//! One module per concern adds `impl Store` blocks: cameras, reads, hot lists, hits,
//! retention (and the access helper's users, sign-in lockouts, sessions, audit log, search,
//! reviews).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub mod agreements;
pub mod approvals;
pub mod audit_log;
pub mod cameras;
mod group_commit;
pub mod hits;
pub mod hotlists;
pub mod images;
pub mod input;
pub mod keys;
pub mod lockouts;
pub mod metrics;
pub mod policy_versions;
pub mod reads;
pub mod retention;
pub mod reviews;
pub mod search;
pub mod sessions;
pub mod testing;
pub mod users;
pub mod witness;

pub use sqlx::{Any, AnyPool as Pool, Row};

/// A write transaction on either backend. Derefs to the connection, so queries run on
/// `&mut *tx`; on SQLite it also holds the store's writer lock until commit or rollback.
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Tx {
    /// Commits; durable when this returns.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything that can go wrong in the store, in words a caller can pass on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database url {0:?}: use sqlite:///path/to/candor.db or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite reader that audit verification uses.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("conflict: {0}")]
    Conflict(String),
    /// A verdict and an action that contradict each other, or a correction without grounds.
    #[error("{0}")]
    Verification(#[from] hits::VerificationRefused),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("key store: {0}")]
    Keys(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stored data is corrupt or its key is gone: {0}")]
    Crypto(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// True when the error is a unique-constraint violation on either backend.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// Embedded migrations, one set per backend.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The store: a connection pool on one backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; writers of this process queue here (fair, no
    /// polling) instead of spinning on the busy timeout. Other processes still meet the
    /// busy timeout.
    writer: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// SQLite: the one connection that write transactions use. Its page cache stays valid
    /// from one transaction to the next (a write through another connection would discard
    /// it), so a batch does not re-read the index pages the previous batch just wrote.
    writer_pool: Option<AnyPool>,
    /// SQLite: the database file, which audit verification reads with rusqlite.
    sqlite_file: Option<String>,
    /// SQLite: ingest batches waiting to be committed together (one fsync for several).
    ingest_queue: Option<std::sync::Arc<group_commit::IngestQueue>>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs pending migrations.
    ///
    /// `sqlite:///path/candor.db` opens SQLite in WAL mode with `synchronous=FULL`, foreign
    /// keys on, a busy timeout and `secure_delete` on (deleted rows are overwritten).
    /// `postgres://…` opens PostgreSQL.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let pool = match backend {
            Backend::Sqlite => open_sqlite(url, 8).await?,
            Backend::Postgres => {
                let opts = AnyConnectOptions::from_str(url)?;
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let writer =
            (backend == Backend::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        let writer_pool = match backend {
            Backend::Sqlite => Some(open_sqlite(url, 1).await?),
            Backend::Postgres => None,
        };
        let sqlite_file = match backend {
            Backend::Sqlite => Some(sqlite_file(url)?.to_owned()),
            Backend::Postgres => None,
        };
        let ingest_queue = (backend == Backend::Sqlite).then(Default::default);
        Ok(Store {
            pool,
            backend,
            writer,
            writer_pool,
            sqlite_file,
            ingest_queue,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for modules that run their own queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of failing
    /// with a lock-upgrade deadlock.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let writer = match &self.writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let mut tx = self.begin_locked().await?;
        tx._writer = writer;
        Ok(tx)
    }

    /// Begins a write transaction without taking the writer lock: for a caller that already
    /// holds it (or PostgreSQL, which has none).
    pub(crate) async fn begin_locked(&self) -> Result<Tx, StoreError> {
        let inner = match &self.writer_pool {
            Some(w) => w.begin_with("BEGIN IMMEDIATE").await?,
            None => self.pool.begin().await?,
        };
        Ok(Tx {
            inner,
            _writer: None,
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (waits for queries in flight).
    pub async fn close(&self) {
        if let Some(w) = &self.writer_pool {
            w.close().await;
        }
        self.pool.close().await;
    }
}

/// The database file of a `sqlite:` url.
fn sqlite_file(url: &str) -> Result<&str, StoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    Ok(path)
}

/// A pool of at most `connections` SQLite connections, with Candor's per-connection settings.
async fn open_sqlite(url: &str, connections: u32) -> Result<AnyPool, StoreError> {
    let path = sqlite_file(url)?;
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    // WAL is a property of the database file: set it once, with a native connection.
    let mut first = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await?;
    first.execute("PRAGMA secure_delete = ON").await?;
    first.close().await?;

    let opts = AnyConnectOptions::from_str(&format!("sqlite://{path}"))?;
    let pool = AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // Per-connection settings: durability, integrity, contention, erasure.
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA secure_delete = ON").await?;
                // Index pages of a busy day fit in memory: fewer reads back from disk.
                conn.execute("PRAGMA cache_size = -65536").await?;
                conn.execute("PRAGMA temp_store = MEMORY").await?;
                // Pages are read through a shared mapping: a connection whose cache went stale
                // (another connection wrote) re-reads them without copying.
                conn.execute("PRAGMA mmap_size = 1073741824").await?;
                // Checkpoint less often: hot index pages are written back once, not many times.
                conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                Ok(())
            })
        })
        .connect_with(opts)
        .await?;
    Ok(pool)
}

/// `VALUES` rows of `cols` placeholders each, for a multi-row INSERT. SQLite gets anonymous
/// `?` placeholders: the driver maps named `$N` ones with a lookup per parameter that grows
/// with their number, which dominates large statements.
pub(crate) fn values_rows(backend: Backend, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Current time as Unix milliseconds UTC.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
