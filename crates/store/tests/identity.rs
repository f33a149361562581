//! Users, recovery codes and sessions, on SQLite and (when configured) PostgreSQL.

use candor_store::keys::{DEFAULT_WINDOW_MS, KeyRing};
use candor_store::sessions::SessionStage;
use candor_store::testing::TestDb;
use candor_store::users::NewUser;
use candor_store::{Store, StoreError};

fn alice() -> NewUser {
    NewUser {
        username: "alice".into(),
        display_name: "Alice Example".into(),
        role: "investigator".into(),
        password_hash: "$argon2id$v=19$placeholder-for-store-test".into(),
        created_by: None,
    }
}

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDb::all().await.expect("test database") {
        let store = db.open().await.expect("open store");
        test(store.clone()).await;
        store.close().await;
        db.finish().await.expect("drop test schema");
    }
}

#[tokio::test]
async fn create_and_find_users() {
    each_backend(|store| async move {
        assert_eq!(store.count_users().await.unwrap(), 0);
        let u = store.create_user(&alice(), 1_000).await.unwrap();
        assert_eq!(u.username, "alice");
        assert_eq!(u.role, "investigator");
        assert!(!u.totp_enabled && !u.disabled && u.totp_sealed.is_none());
        assert_eq!(
            store.user_by_username("alice").await.unwrap(),
            Some(u.clone())
        );
        assert_eq!(store.user_by_id(u.id).await.unwrap(), Some(u.clone()));
        assert_eq!(store.user_by_username("bob").await.unwrap(), None);
        let dup = store.create_user(&alice(), 2_000).await.unwrap_err();
        assert!(matches!(dup, StoreError::Conflict(_)), "{dup}");
        let bad = NewUser {
            username: "Bob Smith".into(),
            ..alice()
        };
        assert!(matches!(
            store.create_user(&bad, 0).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.list_users().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn fifth_failure_from_a_source_locks_that_source_only() {
    each_backend(|store| async move {
        let u = store.create_user(&alice(), 0).await.unwrap();
        let (a, b) = ("192.0.2.7", "2001:db8:1:2::/64");
        for n in 1..=4 {
            let f = store
                .record_login_failure(u.id, a, 100, 5, 600_000)
                .await
                .unwrap();
            assert_eq!((f.failed_in_a_row, f.locked_until), (n, None));
        }
        // Another source's failures are counted apart.
        let f = store
            .record_login_failure(u.id, b, 100, 5, 600_000)
            .await
            .unwrap();
        assert_eq!(f.failed_in_a_row, 1);
        let f = store
            .record_login_failure(u.id, a, 100, 5, 600_000)
            .await
            .unwrap();
        assert_eq!(f.locked_until, Some(600_100));
        assert_eq!(
            store.source_locked_until(u.id, a, 600_099).await.unwrap(),
            Some(600_100)
        );
        assert_eq!(
            store.source_locked_until(u.id, a, 600_100).await.unwrap(),
            None
        );
        assert_eq!(store.source_locked_until(u.id, b, 200).await.unwrap(), None);
        let locks = store.sign_in_locks(Some(u.id), 200).await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(
            (locks[0].source.as_str(), locks[0].locked_until),
            (a, 600_100)
        );
        assert_eq!(store.sign_in_locks(None, 200).await.unwrap(), locks);

        // A correct sign-in from b forgets b's failures, not a's lock.
        store.record_login_success(u.id, b, 300).await.unwrap();
        let f = store
            .record_login_failure(u.id, b, 400, 5, 600_000)
            .await
            .unwrap();
        assert_eq!(f.failed_in_a_row, 1);
        assert!(
            store
                .source_locked_until(u.id, a, 400)
                .await
                .unwrap()
                .is_some()
        );
        let ok = store.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!(ok.last_active_at, Some(300));

        // An administrator's unlock lifts every source's lock and count.
        assert_eq!(store.unlock_user(u.id, 500).await.unwrap(), 1);
        assert_eq!(store.source_locked_until(u.id, a, 500).await.unwrap(), None);
        assert!(
            store
                .sign_in_locks(Some(u.id), 500)
                .await
                .unwrap()
                .is_empty()
        );
        let f = store
            .record_login_failure(u.id, b, 600, 5, 600_000)
            .await
            .unwrap();
        assert_eq!(f.failed_in_a_row, 1);
        assert!(matches!(
            store.unlock_user(u.id + 1000, 0).await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn sources_kept_per_account_are_bounded_and_locks_kept_longest() {
    use candor_store::lockouts::{MAX_SOURCE_BYTES, MAX_SOURCES_PER_ACCOUNT};
    each_backend(|store| async move {
        let u = store.create_user(&alice(), 0).await.unwrap();
        for _ in 0..5 {
            store
                .record_login_failure(u.id, "192.0.2.1", 10, 5, 600_000)
                .await
                .unwrap();
        }
        // Far more sources than are kept, each with one failure, and a huge one.
        for i in 0..MAX_SOURCES_PER_ACCOUNT * 2 {
            store
                .record_login_failure(u.id, &format!("198.51.100.{i}"), 20 + i as i64, 5, 600_000)
                .await
                .unwrap();
        }
        let huge = "x".repeat(100_000);
        store
            .record_login_failure(u.id, &huge, 1_000, 5, 600_000)
            .await
            .unwrap();
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MAX(LENGTH(source)) AS longest FROM sign_in_failures WHERE user_id = $1",
        )
        .bind(u.id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        let n: i64 = sqlx::Row::get(&row, "n");
        let longest: i64 = sqlx::Row::get(&row, "longest");
        assert_eq!(n as usize, MAX_SOURCES_PER_ACCOUNT);
        assert_eq!(longest as usize, MAX_SOURCE_BYTES);
        // The lock in force outlived the flood of single failures.
        assert!(
            store
                .source_locked_until(u.id, "192.0.2.1", 2_000)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn totp_enrolment_steps_and_recovery_codes() {
    each_backend(|store| async move {
        let u = store.create_user(&alice(), 0).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        KeyRing::create(dir.path()).unwrap();
        let keys = KeyRing::open(dir.path(), DEFAULT_WINDOW_MS).unwrap();
        store
            .begin_totp_enrolment(&keys, u.id, &[7u8; 20])
            .await
            .unwrap();
        let pending = store.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!(
            pending.totp_secret(&keys).unwrap().as_deref(),
            Some(&[7u8; 20][..])
        );
        assert!(!pending.totp_enabled);
        let digests = vec!["d1".to_string(), "d2".to_string()];
        store
            .confirm_totp_enrolment(u.id, 50, &digests, 10)
            .await
            .unwrap();
        let enrolled = store.user_by_id(u.id).await.unwrap().unwrap();
        assert!(enrolled.totp_enabled);
        assert_eq!(enrolled.totp_last_step, Some(50));
        // Steps only move forward: a replayed or older step is refused.
        assert!(!store.use_totp_step(u.id, 50).await.unwrap());
        assert!(!store.use_totp_step(u.id, 49).await.unwrap());
        assert!(store.use_totp_step(u.id, 51).await.unwrap());
        assert_eq!(store.recovery_codes_left(u.id).await.unwrap(), 2);
        assert!(store.use_recovery_code(u.id, "d1", 20).await.unwrap());
        assert!(!store.use_recovery_code(u.id, "d1", 21).await.unwrap());
        assert!(!store.use_recovery_code(u.id, "nope", 21).await.unwrap());
        assert_eq!(store.recovery_codes_left(u.id).await.unwrap(), 1);
        // Re-enrolling replaces the codes.
        store
            .confirm_totp_enrolment(u.id, 60, &["d3".to_string()], 30)
            .await
            .unwrap();
        assert!(!store.use_recovery_code(u.id, "d2", 31).await.unwrap());
        assert!(store.use_recovery_code(u.id, "d3", 31).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn account_changes() {
    each_backend(|store| async move {
        let u = store.create_user(&alice(), 0).await.unwrap();
        store.set_user_role(u.id, "supervisor").await.unwrap();
        store.set_user_disabled(u.id, true).await.unwrap();
        store
            .set_password_hash(u.id, "$argon2id$new")
            .await
            .unwrap();
        let changed = store.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!(changed.role, "supervisor");
        assert!(changed.disabled);
        assert_eq!(changed.password_hash, "$argon2id$new");
        assert!(matches!(
            store.set_user_role(999, "officer").await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn sessions_idle_out_and_end() {
    each_backend(|store| async move {
        let u = store.create_user(&alice(), 0).await.unwrap();
        let s = store
            .create_session(
                "digest-a",
                u.id,
                "csrf-a",
                SessionStage::Enrol,
                "127.0.0.1",
                1_000,
            )
            .await
            .unwrap();
        assert_eq!(s.stage, SessionStage::Enrol);
        assert_eq!(s.last_seen_at, 1_000);
        store.promote_session("digest-a").await.unwrap();
        assert_eq!(
            store.session("digest-a").await.unwrap().unwrap().stage,
            SessionStage::Full
        );
        // Active within the idle window: touched.
        assert!(store.touch_session("digest-a", 2_000, 500).await.unwrap());
        // Idle since before the cutoff: refused, and not revived.
        assert!(!store.touch_session("digest-a", 9_000, 2_001).await.unwrap());
        assert_eq!(
            store
                .session("digest-a")
                .await
                .unwrap()
                .unwrap()
                .last_seen_at,
            2_000
        );
        assert!(store.end_session("digest-a", 9_000, "idle").await.unwrap());
        assert!(
            !store
                .end_session("digest-a", 9_001, "signed out")
                .await
                .unwrap()
        );
        let ended = store.session("digest-a").await.unwrap().unwrap();
        assert_eq!(
            (ended.ended_at, ended.ended_reason.as_deref()),
            (Some(9_000), Some("idle"))
        );
        assert!(!store.touch_session("digest-a", 9_002, 0).await.unwrap());

        store
            .create_session("digest-b", u.id, "c", SessionStage::Full, "::1", 10_000)
            .await
            .unwrap();
        store
            .create_session("digest-c", u.id, "c", SessionStage::Full, "::1", 20_000)
            .await
            .unwrap();
        assert_eq!(store.end_idle_sessions(30_000, 15_000).await.unwrap(), 1);
        assert_eq!(
            store
                .end_user_sessions(u.id, 30_001, "password changed")
                .await
                .unwrap(),
            1
        );
        assert!(store.session("nope").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn totp_secrets_are_sealed_at_rest_and_old_ones_are_sealed_at_start() {
    const SECRET: &[u8] = b"TOTP-SEED-0123456789";
    for db in TestDb::all().await.expect("test database") {
        let store = db.open().await.expect("open store");
        let dir = tempfile::tempdir().unwrap();
        KeyRing::create(dir.path()).unwrap();
        let keys = KeyRing::open(dir.path(), DEFAULT_WINDOW_MS).unwrap();
        let old = store.create_user(&alice(), 0).await.unwrap();
        // An earlier version stored the secret in clear.
        sqlx::query("UPDATE users SET totp_secret = $2, totp_enabled = 1 WHERE id = $1")
            .bind(old.id)
            .bind(SECRET.to_vec())
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.seal_legacy_totp_secrets(&keys).await.unwrap(), 1);
        assert_eq!(
            store.seal_legacy_totp_secrets(&keys).await.unwrap(),
            0,
            "once"
        );
        let user = store.user_by_id(old.id).await.unwrap().unwrap();
        assert!(user.totp_enabled);
        assert_eq!(user.totp_secret(&keys).unwrap().as_deref(), Some(SECRET));
        let sealed = user.totp_sealed.clone().unwrap();
        assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET));

        // Another data directory's keys cannot open it.
        let other_dir = tempfile::tempdir().unwrap();
        KeyRing::create(other_dir.path()).unwrap();
        let other = KeyRing::open(other_dir.path(), DEFAULT_WINDOW_MS).unwrap();
        assert!(user.totp_secret(&other).is_err());

        // New enrolments are sealed too, and no column holds the secret in clear.
        let mut bob = alice();
        bob.username = "bob".into();
        let bob = store.create_user(&bob, 0).await.unwrap();
        store
            .begin_totp_enrolment(&keys, bob.id, SECRET)
            .await
            .unwrap();
        for row in sqlx::query("SELECT totp_secret, totp_sealed FROM users")
            .fetch_all(store.pool())
            .await
            .unwrap()
        {
            use sqlx::Row;
            assert!(
                row.try_get::<Option<Vec<u8>>, _>("totp_secret")
                    .unwrap()
                    .is_none()
            );
            let sealed: Vec<u8> = row
                .try_get::<Option<Vec<u8>>, _>("totp_sealed")
                .unwrap()
                .unwrap();
            assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET));
        }
        if db.backend == candor_store::Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(store.pool())
                .await
                .unwrap();
            for entry in std::fs::read_dir(db.path()).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        !bytes.windows(SECRET.len()).any(|w| w == SECRET),
                        "{} holds the secret in clear",
                        path.display()
                    );
                }
            }
        }
        store.close().await;
        db.finish().await.expect("drop test schema");
    }
}
