//! The shared store test suite runs each test on SQLite and, when
//! `CANDOR_TEST_DATABASE_URL` is set, on PostgreSQL.

use candor_store::testing::TestDb;
use candor_store::{Backend, Store};

#[tokio::test]
async fn opens_and_migrates_every_backend() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        store.ping().await.unwrap();
        // Opening again finds the migrations applied.
        let again = Store::open(&db.url).await.unwrap();
        again.ping().await.unwrap();
        again.close().await;
        store.close().await;
        db.finish().await.unwrap();
    }
}

#[tokio::test]
async fn sqlite_settings_are_durable_and_erasing() {
    let db = TestDb::sqlite().unwrap();
    let store = db.open().await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let mut conn = store.pool().acquire().await.unwrap();
    for (pragma, want) in [
        ("journal_mode", "wal"),
        ("synchronous", "2"),
        ("foreign_keys", "1"),
        ("secure_delete", "1"),
    ] {
        let row: (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT CAST({pragma} AS TEXT) FROM pragma_{pragma}"
        )))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(row.0.to_lowercase(), want, "{pragma}");
    }
}

#[tokio::test]
async fn rejects_unknown_urls() {
    let err = Store::open("mysql://x/y").await.unwrap_err();
    assert!(
        err.to_string().contains("unsupported database url"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_runs_when_configured() {
    let configured = std::env::var("CANDOR_TEST_DATABASE_URL")
        .map(|v| !v.is_empty())
        .unwrap_or(false);
    let dbs = TestDb::all().await.unwrap();
    assert_eq!(dbs.len(), if configured { 2 } else { 1 });
    for db in dbs {
        db.finish().await.unwrap();
    }
}
