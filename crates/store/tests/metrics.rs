//! Usage counts on both backends: counted with the records that produce them, by UTC day,
//! and still there after the purge has deleted those records.

use candor_store::cameras::{Approval, CameraKind, NewCamera};
use candor_store::hits::{Disposition, HitAction, HitDetails, NewHit};
use candor_store::keys::{DEFAULT_WINDOW_MS, KeyRing};
use candor_store::metrics::{DayCount, day_of, metric};
use candor_store::reads::{NewRead, ReadDetails};
use candor_store::testing::{self, TestDb};

const DAY: i64 = 86_400_000;

fn read(plate: &str, captured_at: i64, hit_type: Option<&str>) -> NewRead {
    NewRead {
        captured_at,
        confidence: 0.9,
        details: ReadDetails {
            plate: plate.into(),
            ..Default::default()
        },
        image_id: None,
        hits: hit_type
            .map(|t| NewHit {
                list_id: None,
                entry_id: None,
                user_plate_id: None,
                hit_type: t.into(),
                priority: 1,
                match_kind: "exact".into(),
                retention_secs: None,
                details: HitDetails::default(),
            })
            .into_iter()
            .collect(),
    }
}

fn count(counts: &[DayCount], day: i64, m: &str, label: &str) -> i64 {
    counts
        .iter()
        .find(|c| c.day == day && c.metric == m && c.label == label)
        .map_or(0, |c| c.count)
}

#[tokio::test]
async fn counts_are_kept_by_day_and_outlive_the_purge() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        let key_dir = db.path().join("keys");
        KeyRing::create(&key_dir).unwrap();
        let keys = KeyRing::open(&key_dir, DEFAULT_WINDOW_MS).unwrap();
        store
            .create_camera(&NewCamera {
                id: "cam".into(),
                name: "Cam".into(),
                kind: CameraKind::Fixed,
                location: "Main St".into(),
                latitude: None,
                longitude: None,
                direction: "north".into(),
                justification: "test".into(),
                approval: Approval {
                    consultation_date: Some("2026-01-10".into()),
                    permit_reference: Some("P".into()),
                    approving_authority: Some("Council".into()),
                    approval_date: Some("2026-02-01".into()),
                },
            })
            .await
            .unwrap();
        let policy = testing::retention();
        let now = candor_store::now_ms();
        let old_day = day_of(now - 400 * DAY);
        let old = old_day + 3_600_000;
        let out = store
            .ingest_batch(
                &keys,
                &policy,
                "cam",
                "k1",
                b"h1",
                vec![
                    read("AAA111", old, None),
                    read("BBB222", old + 1, None),
                    read("CCC333", old + 2, Some("V")),
                    read("DDD444", now, Some("F")),
                ],
            )
            .await
            .unwrap();
        let old_hit = out.hits[0].hit_id;
        store
            .record_disposition(
                old_hit,
                Disposition::Misread,
                1,
                "o",
                None,
                candor_store::testing::audit_entry("hit.verdict"),
            )
            .await
            .unwrap();
        store
            .record_action(
                old_hit,
                HitAction::None,
                false,
                1,
                "o",
                None,
                candor_store::testing::audit_entry("hit.verdict"),
            )
            .await
            .unwrap();
        // A refused second verdict is not counted again.
        assert!(
            store
                .record_disposition(
                    old_hit,
                    Disposition::CorrectRead,
                    1,
                    "o",
                    None,
                    candor_store::testing::audit_entry("hit.verdict")
                )
                .await
                .is_err()
        );
        // The same batch again is a duplicate: nothing is counted twice.
        store
            .ingest_batch(
                &keys,
                &policy,
                "cam",
                "k1",
                b"h1",
                vec![read("AAA111", old, None)],
            )
            .await
            .unwrap();

        let receipt = store
            .purge(&keys, &db.path().join("images"), &policy, now)
            .await
            .unwrap();
        assert_eq!(
            receipt.receipt.counts.non_hit_reads, 2,
            "the old reads are gone"
        );

        let counts = store.usage_counts(0, now + DAY).await.unwrap();
        let today = day_of(now);
        assert_eq!(count(&counts, old_day, metric::READS, ""), 3);
        assert_eq!(count(&counts, old_day, metric::HITS, "V"), 1);
        assert_eq!(count(&counts, old_day, metric::DISPOSITIONS, "misread"), 1);
        assert_eq!(
            count(&counts, old_day, metric::DISPOSITIONS, "correct_read"),
            0
        );
        assert_eq!(count(&counts, old_day, metric::ACTIONS, "none"), 1);
        assert_eq!(count(&counts, today, metric::READS, ""), 1);
        assert_eq!(count(&counts, today, metric::HITS, "F"), 1);
        assert_eq!(count(&counts, today, metric::PURGES, ""), 1);
        assert_eq!(
            count(&counts, today, metric::RECORDS_PURGED, "non_hit_reads"),
            2
        );

        // The range is honoured.
        let recent = store.usage_counts(now - DAY, now + DAY).await.unwrap();
        assert!(recent.iter().all(|c| c.day >= day_of(now - DAY)));
        assert_eq!(count(&recent, old_day, metric::READS, ""), 0);
        store.close().await;
        db.finish().await.unwrap();
    }
}
