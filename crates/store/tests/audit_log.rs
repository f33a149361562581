//! The stored audit chain: appends, checkpoints, pruning, and tampering done directly in
//! the database, on SQLite and (when configured) PostgreSQL.

use candor_audit::{Actor, AuditEntry, Outcome, SigningKey, TamperKind};
use candor_store::Store;
use candor_store::testing::TestDb;
use chrono::{DateTime, TimeZone, Utc};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn entry(i: i64) -> AuditEntry {
    AuditEntry::new(
        at(1_700_000_000_000 + i * 1000),
        Actor::User { id: "3".into(), name: "ivy".into() },
        "search.reads",
        format!("case:{i}"),
        Outcome::Success,
    )
    .with_source("10.0.0.9")
    .with_details(serde_json::json!({"purpose": "burglary", "results": i, "ratio": 0.25, "nested": {"b": 1, "a": [1, 2]}}))
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

async fn filled(store: &Store, n: i64) {
    store
        .append_audit_batch((0..n).map(entry).collect())
        .await
        .unwrap();
    store
        .checkpoint_audit(&key(), at(1_800_000_000_000))
        .await
        .unwrap();
}

async fn exec(store: &Store, sql: &'static str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

async fn finding(store: &Store) -> (TamperKind, Option<u64>) {
    let f = store
        .verify_audit(&key().verifying_key())
        .await
        .unwrap()
        .expect_err("tampering must be found");
    (f.kind, f.seq)
}

#[tokio::test]
async fn appends_chain_and_verify() {
    each_backend(|store| async move {
        let empty = store
            .verify_audit(&key().verifying_key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(empty.length, 0);
        let a = store.append_audit(entry(0)).await.unwrap();
        let b = store.append_audit(entry(1)).await.unwrap();
        assert_eq!((a.seq, b.seq), (0, 1));
        assert_eq!(b.prev_hash, a.hash);
        let batch = store
            .append_audit_batch(vec![entry(2), entry(3)])
            .await
            .unwrap();
        assert_eq!(batch[1].seq, 3);
        let mut tx = store.begin().await.unwrap();
        let c = store.append_audit_tx(&mut tx, entry(4)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(c.seq, 4);
        // A rolled-back transaction leaves no record and no gap.
        let mut tx = store.begin().await.unwrap();
        store.append_audit_tx(&mut tx, entry(99)).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(store.audit_head().await.unwrap(), (5, c.hash));
        let read = store.audit_records(0, 100).await.unwrap();
        assert_eq!(read.len(), 5);
        assert_eq!(read[1], b, "records read back exactly as written");
        let cp = store
            .checkpoint_audit(&key(), at(1_800_000_000_000))
            .await
            .unwrap();
        assert_eq!((cp.length, cp.head_hash), (5, c.hash));
        let report = store
            .verify_audit(&key().verifying_key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (report.records, report.length, report.checkpoints_matched),
            (5, 5, 1)
        );
        // Filtered reading, newest first.
        let found = store
            .search_audit(&candor_store::audit_log::AuditFilter {
                target: Some("case:2".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].seq, 2);
        let page = store
            .search_audit(&candor_store::audit_log::AuditFilter {
                action_prefix: Some("search.".into()),
                before_seq: Some(3),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 1]);
    })
    .await;
}

#[tokio::test]
async fn concurrent_appends_never_fork() {
    each_backend(|store| async move {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for j in 0..10 {
                    store.append_audit(entry(i * 100 + j)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let report = store
            .verify_audit(&key().verifying_key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.records, 80);
    })
    .await;
}

#[tokio::test]
async fn edited_record_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(
            &store,
            "UPDATE audit_log SET target = 'case:innocent' WHERE seq = 7",
        )
        .await;
        assert_eq!(finding(&store).await, (TamperKind::Modified, Some(7)));
    })
    .await;
}

#[tokio::test]
async fn edited_into_nonsense_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(
            &store,
            "UPDATE audit_log SET details = 'not json' WHERE seq = 11",
        )
        .await;
        assert_eq!(finding(&store).await, (TamperKind::Modified, Some(11)));
    })
    .await;
}

#[tokio::test]
async fn deleted_record_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(&store, "DELETE FROM audit_log WHERE seq = 5").await;
        assert_eq!(finding(&store).await, (TamperKind::Deleted, Some(5)));
    })
    .await;
}

#[tokio::test]
async fn inserted_record_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        // Make room at 10 by shifting the later records up, then insert a copy of record 3
        // there (with its hash, which cannot fit its new place).
        exec(&store, "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 10").await;
        exec(&store, "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000").await;
        exec(
            &store,
            "INSERT INTO audit_log (seq, time, actor, action, target, outcome, source, details, prev_hash, hash) \
             SELECT 10, time, actor, action, 'case:planted', outcome, source, details, prev_hash, hash FROM audit_log WHERE seq = 3",
        )
        .await;
        let (kind, seq) = finding(&store).await;
        assert_eq!(seq, Some(10), "{kind:?}");
        assert!(matches!(kind, TamperKind::Modified | TamperKind::Inserted | TamperKind::ChainBreak), "{kind:?}");
    })
    .await;
}

#[tokio::test]
async fn swapped_records_are_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(&store, "UPDATE audit_log SET seq = -1 WHERE seq = 4").await;
        exec(&store, "UPDATE audit_log SET seq = 4 WHERE seq = 9").await;
        exec(&store, "UPDATE audit_log SET seq = 9 WHERE seq = -1").await;
        let (kind, seq) = finding(&store).await;
        assert_eq!(seq, Some(4), "{kind:?}");
    })
    .await;
}

#[tokio::test]
async fn truncated_tail_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(&store, "DELETE FROM audit_log WHERE seq >= 15").await;
        let (kind, seq) = finding(&store).await;
        assert!(
            matches!(
                kind,
                TamperKind::TruncatedTail {
                    checkpoint_length: 20
                }
            ),
            "{kind:?}"
        );
        assert_eq!(seq, Some(15));
    })
    .await;
}

#[tokio::test]
async fn truncated_tail_with_head_rewound_is_caught_by_the_checkpoint() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(&store, "DELETE FROM audit_log WHERE seq >= 15").await;
        exec(&store, "UPDATE audit_head SET length = 15, head_hash = (SELECT hash FROM audit_log WHERE seq = 14)").await;
        let (kind, seq) = finding(&store).await;
        assert!(matches!(kind, TamperKind::TruncatedTail { .. }), "{kind:?}");
        assert_eq!(seq, Some(15));
    })
    .await;
}

#[tokio::test]
async fn forged_checkpoint_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        // A checkpoint signed with another key.
        let forged = candor_audit::Checkpoint::sign(
            20,
            store.audit_head().await.unwrap().1,
            at(1_900_000_000_000),
            &SigningKey::from_bytes(&[9u8; 32]),
        );
        store.save_audit_checkpoint(&forged).await.unwrap();
        let (kind, _) = finding(&store).await;
        assert!(
            matches!(
                kind,
                TamperKind::ForgedCheckpoint {
                    checkpoint_length: 20,
                    ..
                }
            ),
            "{kind:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn pruning_leaves_a_verifiable_anchored_chain() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        // Entries are one second apart from 1_700_000_000_000: keep from record 12.
        let removed = store
            .prune_audit_before(at(1_700_000_012_000), &key(), at(1_800_000_000_001))
            .await
            .unwrap();
        assert_eq!(removed, 12);
        let anchor = store.audit_anchor().await.unwrap().unwrap();
        assert_eq!(anchor.seq, 12);
        store.append_audit(entry(20)).await.unwrap();
        let report = store
            .verify_audit(&key().verifying_key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (report.first_seq, report.records, report.length),
            (12, 9, 21)
        );
        assert!(report.anchored);
        // Deleting the first kept record is still caught.
        exec(&store, "DELETE FROM audit_log WHERE seq = 12").await;
        assert_eq!(finding(&store).await.1, Some(12));
    })
    .await;
}

#[tokio::test]
async fn stored_json_in_another_form_still_verifies() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        // The same actor and details as written, with other key order and spacing: the
        // hash covers their structure, not their text.
        exec(
            &store,
            r#"UPDATE audit_log SET actor = '{"name":"ivy","id":"3","kind":"user"}',
               details = '{ "results": 7, "ratio": 0.25, "purpose": "burglary", "nested": {"b": 1, "a": [1, 2]} }'
               WHERE seq = 7"#,
        )
        .await;
        let report = store
            .verify_audit(&key().verifying_key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.records, 20);
        // ...but another value is caught.
        exec(
            &store,
            r#"UPDATE audit_log SET details = '{"nested":{"a":[1,2],"b":1},"purpose":"burglary","ratio":0.25,"results":8}' WHERE seq = 7"#,
        )
        .await;
        assert_eq!(finding(&store).await, (TamperKind::Modified, Some(7)));
    })
    .await;
}

#[tokio::test]
async fn actor_edited_into_nonsense_is_named() {
    each_backend(|store| async move {
        filled(&store, 20).await;
        exec(
            &store,
            r#"UPDATE audit_log SET actor = '{"kind":"user","id":"3"}' WHERE seq = 13"#,
        )
        .await;
        assert_eq!(finding(&store).await, (TamperKind::Modified, Some(13)));
    })
    .await;
}

/// Verification reads one snapshot: records appended meanwhile are neither counted
/// against the head read before them nor taken for tampering.
#[tokio::test]
async fn verifying_while_appending_sees_one_consistent_chain() {
    each_backend(|store| async move {
        filled(&store, 5_000).await;
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..300 {
                    store.append_audit(entry(10_000 + i)).await.unwrap();
                }
            })
        };
        while !writer.is_finished() {
            let report = store
                .verify_audit(&key().verifying_key())
                .await
                .unwrap()
                .unwrap_or_else(|finding| panic!("false alarm: {finding}"));
            assert!(report.records >= 5_000);
        }
        writer.await.unwrap();
    })
    .await;
}

/// A tail deleted together with the checkpoints that vouched for it, the head set back:
/// the shorter chain verifies, but not against a checkpoint published before (kept outside
/// the store). The same for the whole log deleted.
#[tokio::test]
async fn deletions_that_fix_up_the_head_are_caught_against_a_published_checkpoint() {
    each_backend(|store| async move {
        let public = key().verifying_key();
        filled(&store, 15).await;
        store
            .append_audit_batch((15..20).map(entry).collect())
            .await
            .unwrap();
        let published = store
            .checkpoint_audit(&key(), at(1_800_000_000_500))
            .await
            .unwrap();
        assert_eq!(published.length, 20);
        let report = store
            .verify_audit_against(&public, Some(&published))
            .await
            .unwrap()
            .unwrap();
        // The first, the published one as stored, and the published one as given.
        assert_eq!(report.checkpoints_matched, 3);

        exec(&store, "DELETE FROM audit_log WHERE seq >= 15").await;
        exec(&store, "DELETE FROM audit_checkpoints WHERE length > 15").await;
        exec(&store, "UPDATE audit_head SET length = 15, head_hash = (SELECT hash FROM audit_log WHERE seq = 14)").await;
        let report = store.verify_audit(&public).await.unwrap().unwrap();
        assert_eq!(report.length, 15, "plain verification cannot see it");
        let found = store
            .verify_audit_against(&public, Some(&published))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (found.kind, found.seq),
            (
                TamperKind::TruncatedTail {
                    checkpoint_length: 20
                },
                Some(15)
            )
        );

        exec(&store, "UPDATE audit_head SET length = 0, head_hash = (SELECT prev_hash FROM audit_log WHERE seq = 0)").await;
        exec(&store, "DELETE FROM audit_log").await;
        exec(&store, "DELETE FROM audit_checkpoints").await;
        let report = store.verify_audit(&public).await.unwrap().unwrap();
        assert_eq!(report.records, 0, "plain verification cannot see it");
        let found = store
            .verify_audit_against(&public, Some(&published))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(found.seq, Some(0), "{found}");
    })
    .await;
}

#[tokio::test]
async fn the_latest_checkpoint_and_actions_in_a_range() {
    each_backend(|store| async move {
        assert!(store.latest_audit_checkpoint().await.unwrap().is_none());
        filled(&store, 5).await;
        let later = store
            .checkpoint_audit(&key(), at(1_800_000_000_900))
            .await
            .unwrap();
        assert_eq!(store.latest_audit_checkpoint().await.unwrap(), Some(later));
        let mut other = entry(5);
        other.action = "login.success".into();
        store.append_audit(other).await.unwrap();
        let has = |from, to, actions: &'static [&'static str]| {
            let store = store.clone();
            async move { store.audit_has_action(from, to, actions).await.unwrap() }
        };
        assert!(has(0, 6, &["search.reads"]).await);
        assert!(!has(5, 6, &["search.reads", "read.view"]).await);
        assert!(has(5, 6, &["read.view", "login.success"]).await);
        assert!(!has(6, 6, &["login.success"]).await);
        assert!(!has(0, 6, &[]).await);
    })
    .await;
}
