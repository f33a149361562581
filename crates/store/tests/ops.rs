//! Store test suite for the ops concerns; each test runs on every configured backend.

use candor_store::cameras::{
    Approval, CameraKind, CameraStatus, CameraUpdate, IngestRefusal, NewCamera,
};
use candor_store::hits::{Disposition, HitAction, HitDetails, NewHit};
use candor_store::hotlists::{self, HotListSpec, ListSource, NewUserPlate, UserPlateStatus};
use candor_store::keys::{DEFAULT_WINDOW_MS, KeyRing};
use candor_store::reads::{NewRead, ReadDetails};
use candor_store::retention::RetentionPolicy;
use candor_store::testing::{self, TestDb};
use candor_store::{Store, StoreError, now_ms};

fn approved() -> Approval {
    Approval {
        consultation_date: Some("2026-01-10".into()),
        permit_reference: Some("PERMIT-7".into()),
        approving_authority: Some("City council".into()),
        approval_date: Some("2026-02-01".into()),
    }
}

fn camera(id: &str, approval: Approval) -> NewCamera {
    NewCamera {
        id: id.into(),
        name: format!("Camera {id}"),
        kind: CameraKind::Fixed,
        location: "Main St & 3rd".into(),
        latitude: Some(40.0),
        longitude: Some(-75.0),
        direction: "northbound".into(),
        justification: "stolen-vehicle corridor".into(),
        approval,
    }
}

fn read(plate: &str, captured_at: i64) -> NewRead {
    NewRead {
        captured_at,
        confidence: 0.9,
        details: ReadDetails {
            plate: plate.into(),
            region: Some("us-ca".into()),
            ..Default::default()
        },
        image_id: None,
        hits: Vec::new(),
    }
}

fn hit(list_id: i64) -> NewHit {
    NewHit {
        list_id: Some(list_id),
        entry_id: None,
        user_plate_id: None,
        hit_type: "V".into(),
        priority: 1,
        match_kind: "exact".into(),
        retention_secs: None,
        details: HitDetails {
            listed_plate: "ABC123".into(),
            list_name: "NCIC".into(),
            ..Default::default()
        },
    }
}

async fn setup(db: &TestDb) -> (Store, KeyRing) {
    let store = db.open().await.unwrap();
    let key_dir = db.path().join("keys");
    KeyRing::create(&key_dir).unwrap();
    (store, KeyRing::open(&key_dir, DEFAULT_WINDOW_MS).unwrap())
}

#[tokio::test]
async fn camera_registry_and_approval_rules() {
    for db in TestDb::all().await.unwrap() {
        let (store, _keys) = setup(&db).await;
        let (cam, key) = store
            .create_camera(&camera("cam-1", approved()))
            .await
            .unwrap();
        assert!(cam.approved);
        assert_eq!(cam.ingest_allowed(), Ok(()));
        assert_eq!(
            store.camera_by_api_key(&key).await.unwrap().unwrap().id,
            "cam-1"
        );
        assert!(
            store
                .camera_by_api_key("cam_wrong")
                .await
                .unwrap()
                .is_none()
        );

        let dup = store
            .create_camera(&camera("cam-1", approved()))
            .await
            .unwrap_err();
        assert!(matches!(dup, StoreError::Conflict(_)), "{dup}");

        let (unapproved, _) = store
            .create_camera(&camera("cam-2", Approval::default()))
            .await
            .unwrap();
        match unapproved.ingest_allowed() {
            Err(IngestRefusal::NotApproved(missing)) => assert_eq!(missing.len(), 4),
            other => panic!("{other:?}"),
        }

        let bad_date = Approval {
            approval_date: Some("01/02/2026".into()),
            ..approved()
        };
        let err = store
            .create_camera(&camera("cam-3", bad_date))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");

        let suspended = store
            .update_camera(
                "cam-1",
                &CameraUpdate {
                    status: Some(CameraStatus::Suspended),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(suspended.ingest_allowed(), Err(IngestRefusal::Suspended));
        let gone = store
            .update_camera(
                "cam-1",
                &CameraUpdate {
                    status: Some(CameraStatus::Decommissioned),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(gone.ingest_allowed(), Err(IngestRefusal::Decommissioned));
        let err = store
            .update_camera(
                "cam-1",
                &CameraUpdate {
                    status: Some(CameraStatus::Active),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)));

        let new_key = store.rotate_camera_key("cam-2").await.unwrap();
        assert_eq!(
            store.camera_by_api_key(&new_key).await.unwrap().unwrap().id,
            "cam-2"
        );
        assert_eq!(store.list_cameras().await.unwrap().len(), 2);
        store.close().await;
        db.finish().await.unwrap();
    }
}

#[tokio::test]
async fn ingest_is_idempotent_encrypted_and_findable() {
    for db in TestDb::all().await.unwrap() {
        let (store, keys) = setup(&db).await;
        store
            .create_camera(&camera("cam-1", approved()))
            .await
            .unwrap();
        let policy = testing::retention();
        let now = now_ms();
        let list = store
            .replace_hot_list(
                &HotListSpec {
                    name: "NCIC".into(),
                    source: ListSource::Ncic,
                    hit_type: "V".into(),
                    priority: 1,
                    hit_retention_secs: None,
                },
                &[],
            )
            .await
            .unwrap();
        let mut reads: Vec<NewRead> = (0..450)
            .map(|i| read(&format!("XYZ{i:03}"), now - i))
            .collect();
        let mut hot = read("ABC123", now);
        hot.hits.push(hit(list.id));
        reads.push(hot);

        let out = store
            .ingest_batch(&keys, &policy, "cam-1", "k1", b"h1", reads.clone())
            .await
            .unwrap();
        assert!(!out.duplicate);
        assert_eq!(out.read_count, 451);
        assert_eq!(out.hits.len(), 1);
        assert_eq!(out.hits[0].read_index, 450);
        assert_eq!(store.count_reads().await.unwrap(), 451);

        let again = store
            .ingest_batch(&keys, &policy, "cam-1", "k1", b"h1", reads.clone())
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.batch_id, out.batch_id);
        assert_eq!(
            store.count_reads().await.unwrap(),
            451,
            "a re-sent batch is not stored twice"
        );

        let conflict = store
            .ingest_batch(&keys, &policy, "cam-1", "k1", b"other", reads)
            .await
            .unwrap_err();
        assert!(matches!(conflict, StoreError::Conflict(_)), "{conflict}");

        let found = store
            .reads_by_plate(&keys, "ABC123", now - 60_000, now + 1, 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].is_hit);
        assert_eq!(found[0].details.plate, "ABC123");
        assert_eq!(found[0].expires_at, now + policy.hit_secs * 1000);
        let plain = store
            .reads_by_plate(&keys, "XYZ001", now - 60_000, now + 1, 10)
            .await
            .unwrap();
        assert_eq!(plain.len(), 1);
        assert_eq!(
            plain[0].expires_at,
            plain[0].captured_at + policy.non_hit_secs * 1000
        );

        // The plate is not stored in clear.
        let raw: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT sealed FROM reads")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(raw.iter().all(|(s,)| !s.windows(6).any(|w| w == b"ABC123")));

        // Hit verification: action needs a disposition first; each is recorded once.
        let hit_id = out.hits[0].hit_id;
        let err = store
            .record_action(
                hit_id,
                HitAction::Stop,
                false,
                7,
                "officer",
                None,
                candor_store::testing::audit_entry("hit.verdict"),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("unverified"), "{err}");
        store
            .record_disposition(
                hit_id,
                Disposition::CorrectRead,
                7,
                "officer",
                Some("plate and state match"),
                candor_store::testing::audit_entry("hit.verdict"),
            )
            .await
            .unwrap();
        assert!(
            store
                .record_disposition(
                    hit_id,
                    Disposition::Misread,
                    7,
                    "officer",
                    None,
                    candor_store::testing::audit_entry("hit.verdict")
                )
                .await
                .is_err()
        );
        store
            .record_action(
                hit_id,
                HitAction::Stop,
                false,
                7,
                "officer",
                None,
                candor_store::testing::audit_entry("hit.verdict"),
            )
            .await
            .unwrap();
        let h = store.get_hit(&keys, hit_id).await.unwrap().unwrap();
        assert_eq!(h.status, "closed");
        assert_eq!(h.disposition.unwrap().value, Disposition::CorrectRead);
        assert_eq!(h.details.listed_plate, "ABC123");
        let missing = store
            .record_disposition(
                999_999,
                Disposition::Dismissed,
                7,
                "officer",
                None,
                candor_store::testing::audit_entry("hit.verdict"),
            )
            .await
            .unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }));
        store.close().await;
        db.finish().await.unwrap();
    }
}

#[tokio::test]
async fn hot_list_import_replace_and_user_plates() {
    for db in TestDb::all().await.unwrap() {
        let (store, _keys) = setup(&db).await;
        let text = "HEADER NCIC LPR EXTRACT\n\
                    V123456789LA057020020190509AB123456  CA2009MC2009YAMACYLMCBLK\n\
                    K000000001LA057020020200101KPLATE1   TX2010PC2010FORDF15PUBLU\n";
        let (entries, report) = hotlists::parse_ncic(text, &["K".to_string()]);
        assert!(!report.rejected, "{report:?}");
        assert_eq!((report.accepted, report.excluded), (1, 1));
        assert_eq!(entries[0].plate, "AB123456");
        assert_eq!(entries[0].state.as_deref(), Some("CA"));
        let spec = HotListSpec {
            name: "NCIC".into(),
            source: ListSource::Ncic,
            hit_type: "V".into(),
            priority: 1,
            hit_retention_secs: Some(3600),
        };
        let list = store.replace_hot_list(&spec, &entries).await.unwrap();
        assert_eq!((list.version, list.entry_count), (1, 1));

        let bad = "HEADER\nV123456789LA057020020191399AB123456  CA\nQ123\n";
        let (_, report) = hotlists::parse_ncic(bad, &[]);
        assert!(report.rejected);
        assert_eq!(
            report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 3]
        );

        let csv = "plate,state,reason,effective_date,expiry_date,priority\nxyz-789,ca,stolen,2026-01-01,2099-12-31,2\n";
        let (entries, report) = hotlists::parse_csv(csv, "P");
        assert!(!report.rejected, "{report:?}");
        let list2 = store
            .replace_hot_list(
                &HotListSpec {
                    hit_type: "P".into(),
                    ..spec.clone()
                },
                &entries,
            )
            .await
            .unwrap();
        assert_eq!(list2.id, list.id);
        assert_eq!(list2.version, 2);
        let stored = store.hot_list_entries(list.id, 10).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].plate, "XYZ789");

        let (_, report) = hotlists::parse_csv("plate,paint\nABC,red\n", "P");
        assert!(report.rejected);
        assert!(report.errors[0].message.contains("unknown column"));

        // User hot plates: need approval by someone else; expire automatically.
        let now = now_ms();
        let max = 30 * 86_400_000;
        let p = NewUserPlate {
            plate: "usr 001".into(),
            state: Some("ca".into()),
            reason: "witness report".into(),
            case_number: "2026-1234".into(),
            expires_at: now + 86_400_000,
            hit_type: None,
            priority: None,
        };
        let too_long = NewUserPlate {
            expires_at: now + 40 * 86_400_000,
            ..p.clone()
        };
        assert!(
            store
                .create_user_plate(&too_long, 1, "officer", max)
                .await
                .is_err()
        );
        let no_case = NewUserPlate {
            case_number: " ".into(),
            ..p.clone()
        };
        assert!(
            store
                .create_user_plate(&no_case, 1, "officer", max)
                .await
                .is_err()
        );
        let up = store
            .create_user_plate(&p, 1, "officer", max)
            .await
            .unwrap();
        assert_eq!(up.status, UserPlateStatus::Pending);
        let matchable = store.matchable_entries(now).await.unwrap();
        assert!(
            matchable.iter().all(|m| m.user_plate_id.is_none()),
            "pending plates do not match"
        );
        assert!(
            store
                .decide_user_plate(up.id, true, 1, "officer", None)
                .await
                .is_err(),
            "no self-approval"
        );
        let approved = store
            .decide_user_plate(up.id, true, 2, "supervisor", Some("ok"))
            .await
            .unwrap();
        assert_eq!(approved.status, UserPlateStatus::Approved);
        let matchable = store.matchable_entries(now).await.unwrap();
        assert_eq!(
            matchable
                .iter()
                .filter(|m| m.user_plate_id == Some(up.id))
                .count(),
            1
        );
        assert_eq!(matchable.iter().filter(|m| m.entry_id.is_some()).count(), 1);
        let later = store.matchable_entries(now + 2 * 86_400_000).await.unwrap();
        assert!(
            later.iter().all(|m| m.user_plate_id.is_none()),
            "expired plates stop matching"
        );
        store.close().await;
        db.finish().await.unwrap();
    }
}

#[tokio::test]
async fn purge_deletes_expired_keeps_held_and_destroys_keys() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        let key_dir = db.path().join("keys");
        KeyRing::create(&key_dir).unwrap();
        // One-minute windows so that a test can outlive one.
        let keys = KeyRing::open(&key_dir, 60_000).unwrap();
        let image_dir = db.path().join("images");
        store
            .create_camera(&camera("cam-1", approved()))
            .await
            .unwrap();
        let policy = RetentionPolicy {
            non_hit_secs: 1,
            ..testing::retention()
        };
        let now = now_ms();
        let img = store
            .store_image(
                &keys,
                &image_dir,
                "cam-1",
                now,
                1,
                "image/jpeg",
                b"\xff\xd8jpeg",
            )
            .await
            .unwrap();
        let mut r0 = read("OLD001", now);
        r0.image_id = Some(img);
        let out = store
            .ingest_batch(
                &keys,
                &policy,
                "cam-1",
                "b1",
                b"h",
                vec![r0, read("OLD002", now), read("HELD01", now)],
            )
            .await
            .unwrap();
        assert_eq!(out.read_count, 3);
        let held_id = store
            .reads_by_plate(&keys, "HELD01", 0, i64::MAX, 1)
            .await
            .unwrap()[0]
            .id;
        let hold = store
            .place_hold(held_id, "evidence", "2026-99", 3, "manager")
            .await
            .unwrap();
        assert!(
            store
                .get_image(&keys, &image_dir, img)
                .await
                .unwrap()
                .is_some()
        );

        // Keep a copy of the database file (as a backup would).
        let backup = if db.backend == candor_store::Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(store.pool())
                .await
                .unwrap();
            let copy = db.path().join("backup.db");
            std::fs::copy(db.path().join("candor.db"), &copy).unwrap();
            Some(copy)
        } else {
            None
        };

        // Nothing expired yet.
        let r = store.purge(&keys, &image_dir, &policy, now).await.unwrap();
        assert_eq!(r.receipt.counts.non_hit_reads, 0);
        r.verify().unwrap();

        // After the window ends, everything expired goes, except the held read.
        let later = keys.window_span(keys.window_for(now + 1000)).1 + 1;
        let r = store
            .purge(&keys, &image_dir, &policy, later)
            .await
            .unwrap();
        r.verify().unwrap();
        assert_eq!(r.receipt.counts.non_hit_reads, 2);
        assert_eq!(r.receipt.counts.held_reads_kept, 1);
        assert_eq!(r.receipt.counts.images, 1);
        assert_eq!(r.receipt.counts.image_files, 1);
        assert_eq!(r.receipt.policy_version, policy.policy_version.to_string());
        assert!(
            r.receipt.windows_destroyed.is_empty(),
            "the held read keeps its window key"
        );
        assert_eq!(r.receipt.windows_kept_for_holds.len(), 1);
        assert_eq!(store.count_reads().await.unwrap(), 1);
        assert!(store.get_read(&keys, held_id).await.unwrap().is_some());

        // Release the hold: the next purge deletes it and destroys the key.
        store
            .release_hold(hold.id, 3, "manager", Some("case closed"))
            .await
            .unwrap();
        assert!(
            store
                .release_hold(hold.id, 3, "manager", None)
                .await
                .is_err()
        );
        let r = store
            .purge(&keys, &image_dir, &policy, later)
            .await
            .unwrap();
        assert_eq!(r.receipt.counts.non_hit_reads, 1);
        assert_eq!(r.receipt.windows_destroyed.len(), 1);
        assert_eq!(store.count_reads().await.unwrap(), 0);
        assert!(keys.live_windows().unwrap().is_empty());
        assert_eq!(store.list_receipts(10).await.unwrap().len(), 3);

        // The backup copy still has the rows, but nothing in it can be opened.
        if let Some(copy) = backup {
            let old = Store::open(&format!("sqlite://{}", copy.display()))
                .await
                .unwrap();
            assert_eq!(old.count_reads().await.unwrap(), 3);
            let err = old.get_read(&keys, held_id).await.unwrap_err();
            assert!(matches!(err, StoreError::Crypto(_)), "{err}");
            let fresh_keys = KeyRing::open(&key_dir, 60_000).unwrap();
            assert!(old.get_read(&fresh_keys, held_id).await.is_err());
            old.close().await;
        }
        store.close().await;
        db.finish().await.unwrap();
    }
}

/// Stores a camera "cam-1" and an empty hot list; returns the list's id.
async fn camera_and_list(store: &Store) -> i64 {
    store
        .create_camera(&camera("cam-1", approved()))
        .await
        .unwrap();
    store
        .replace_hot_list(
            &HotListSpec {
                name: "NCIC".into(),
                source: ListSource::Ncic,
                hit_type: "V".into(),
                priority: 1,
                hit_retention_secs: None,
            },
            &[],
        )
        .await
        .unwrap()
        .id
}

/// Starts ingesting each batch (idempotency key, request hash, reads) at once, while a write
/// transaction holds the writer, so that on SQLite they all wait and are committed as one
/// group when it ends; returns their results in order.
async fn ingest_together(
    store: &Store,
    keys: &std::sync::Arc<KeyRing>,
    batches: Vec<(String, Vec<u8>, Vec<NewRead>)>,
) -> Vec<Result<candor_store::reads::IngestOutcome, StoreError>> {
    let blocker = store.begin().await.unwrap();
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|(key, hash, reads)| {
            let (store, keys) = (store.clone(), keys.clone());
            tokio::spawn(async move {
                store
                    .ingest_batch(&keys, &testing::retention(), "cam-1", &key, &hash, reads)
                    .await
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    blocker.rollback().await.unwrap();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_committed_together_each_get_their_own_answer() {
    for db in TestDb::all().await.unwrap() {
        let (store, keys) = setup(&db).await;
        let keys = std::sync::Arc::new(keys);
        let list_id = camera_and_list(&store).await;
        let now = now_ms();
        // 12 batches of 40 reads; in batch b, read b is a hit.
        let batches = (0..12)
            .map(|b| {
                let reads = (0..40)
                    .map(|i| {
                        let mut r = read(&format!("G{b:02}R{i:03}"), now - i);
                        if i == b {
                            r.hits.push(hit(list_id));
                        }
                        r
                    })
                    .collect();
                (format!("k{b}"), vec![b as u8], reads)
            })
            .collect();
        let results = ingest_together(&store, &keys, batches).await;

        let mut batch_ids = std::collections::BTreeSet::new();
        for (b, result) in results.into_iter().enumerate() {
            let out = result.unwrap();
            assert!(!out.duplicate);
            assert_eq!(out.read_count, 40);
            assert_eq!(store.count_reads_in_batch(&out.batch_id).await.unwrap(), 40);
            assert!(batch_ids.insert(out.batch_id.clone()), "batch ids differ");
            // The answer's hit points at this batch's own hit read.
            assert_eq!(out.hits.len(), 1);
            assert_eq!(out.hits[0].read_index, b);
            let r = store
                .get_read(&keys, out.hits[0].read_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.details.plate, format!("G{b:02}R{b:03}"));
            assert_eq!(r.batch_id, out.batch_id);
            assert!(r.is_hit);
            let h = store
                .get_hit(&keys, out.hits[0].hit_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(h.read_id, r.id);
        }
        assert_eq!(store.count_reads().await.unwrap(), 12 * 40);
        let counts = store.usage_counts(0, now + 86_400_000).await.unwrap();
        let total = |metric: &str| -> i64 {
            counts
                .iter()
                .filter(|c| c.metric == metric)
                .map(|c| c.count)
                .sum()
        };
        assert_eq!(total("reads"), 12 * 40);
        assert_eq!(total("hits"), 12);
        store.close().await;
        db.finish().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_batch_among_others_fails_alone() {
    for db in TestDb::all().await.unwrap() {
        let (store, keys) = setup(&db).await;
        let keys = std::sync::Arc::new(keys);
        camera_and_list(&store).await;
        let now = now_ms();
        let good = |p: &str| {
            (0..30)
                .map(|i| read(&format!("{p}{i:03}"), now - i))
                .collect()
        };
        // An image that does not exist: the database refuses the read.
        let mut bad: Vec<NewRead> = good("BAD");
        bad[7].image_id = Some(999_999);
        let results = ingest_together(
            &store,
            &keys,
            vec![
                ("first".into(), b"1".to_vec(), good("ONE")),
                ("bad".into(), b"2".to_vec(), bad),
                // The same batch twice: stored once, the second is answered as a duplicate.
                ("twice".into(), b"3".to_vec(), good("TWO")),
                ("twice".into(), b"3".to_vec(), good("TWO")),
            ],
        )
        .await;
        let mut results = results.into_iter();
        let first = results.next().unwrap().unwrap();
        assert!(!first.duplicate);
        assert!(results.next().unwrap().is_err(), "the bad batch is refused");
        let a = results.next().unwrap().unwrap();
        let b = results.next().unwrap().unwrap();
        assert_eq!(a.batch_id, b.batch_id);
        assert!(a.duplicate != b.duplicate, "exactly one of the two is new");
        assert_eq!(
            store.count_reads_in_batch(&first.batch_id).await.unwrap(),
            30
        );
        assert_eq!(store.count_reads_in_batch(&a.batch_id).await.unwrap(), 30);
        assert_eq!(
            store.count_reads().await.unwrap(),
            60,
            "nothing of the bad batch"
        );
        // Nothing of it was kept: its key is still free.
        let again = store
            .ingest_batch(
                &keys,
                &testing::retention(),
                "cam-1",
                "bad",
                b"2",
                good("FIX"),
            )
            .await
            .unwrap();
        assert!(!again.duplicate);
        store.close().await;
        db.finish().await.unwrap();
    }
}

/// A large bad file gives a small report (issue 27, item 12): the first 100 bad lines, each
/// message bounded, and the count of all of them.
#[test]
fn a_bad_hot_list_reports_its_first_hundred_errors_and_a_count() {
    let long = "9".repeat(5000);
    let mut csv = String::from("plate,priority\n");
    for i in 0..2500 {
        csv.push_str(&format!("ABC{i},{long}\n"));
    }
    let (entries, report) = hotlists::parse_csv(&csv, "P");
    assert!(entries.is_empty());
    assert!(report.rejected);
    assert_eq!(report.error_count, 2500);
    assert_eq!(report.errors.len(), hotlists::ImportReport::MAX_ERRORS);
    assert_eq!(report.errors[0].line, 2);
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.message.len() <= hotlists::ImportReport::MAX_MESSAGE_BYTES + 3)
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.len() < 64 * 1024, "report is {} bytes", json.len());
}

/// Issue 26: a CSV hot list's bad lines are named by the line an editor shows, whether the
/// file ends its lines with LF or with CRLF (every browser upload), with or without a BOM.
#[test]
fn csv_errors_name_the_right_line_with_crlf_and_lf() {
    for bom in ["", "\u{FEFF}"] {
        for eol in ["\n", "\r\n"] {
            let text = format!(
                "{bom}{}{eol}",
                [
                    "plate,priority",
                    "ABC123,1",
                    "",
                    "BAD1,12",
                    "XYZ9,x",
                    "OK1,2"
                ]
                .join(eol)
            );
            let (entries, report) = hotlists::parse_csv(&text, "V");
            let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
            assert_eq!(lines, vec![4, 5], "{eol:?} {bom:?}: {report:?}");
            assert_eq!(entries.len(), 2);
            assert_eq!(report.lines, 6, "{eol:?}");
        }
    }
}

/// Issue 26: a binary file (an image picked by mistake, read as text by the browser) is
/// refused as "not a text file", not with a line of escape noise per entry.
#[tokio::test]
async fn a_binary_file_is_not_imported_as_a_hot_list() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        let spec = HotListSpec {
            name: "State".into(),
            source: ListSource::State,
            hit_type: "V".into(),
            priority: 1,
            hit_retention_secs: None,
        };
        let png_as_text = "\u{FFFD}PNG\r\n\u{1A}\n\u{0}\u{0}\u{0}\rIHDR\u{FFFD}\u{FFFD}";
        for format in [hotlists::ImportFormat::Csv, hotlists::ImportFormat::Ncic] {
            let (list, report) = store
                .import_hot_list(&spec, format, png_as_text, &[])
                .await
                .unwrap();
            assert!(list.is_none() && report.rejected);
            assert_eq!(report.errors.len(), 1, "{report:?}");
            assert!(
                report.errors[0].message.contains("not a text file"),
                "{report:?}"
            );
        }
        db.finish().await.unwrap();
    }
}

/// Issue 26: an NCIC extract mixing list codes shows every type it holds, not the list's
/// default "V".
#[tokio::test]
async fn a_mixed_ncic_list_shows_each_type_it_holds() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        let spec = HotListSpec {
            name: "NCIC".into(),
            source: ListSource::Ncic,
            hit_type: "V".into(),
            priority: 1,
            hit_retention_secs: None,
        };
        let text = "LPR EXTRACT 20261128\r\n\
            V123456789LA057020020190509AB123456  CA2009MC2009YAMACYLMCBLK\r\n\
            F000000042LA057020020200101XYZ789    TX2010PC2010FORDF15PUBLU\r\n\
            W000000043LA057020020200101WNT111    TX\r\n";
        let (list, report) = store
            .import_hot_list(&spec, hotlists::ImportFormat::Ncic, text, &[])
            .await
            .unwrap();
        let list = list.unwrap_or_else(|| panic!("{report:?}"));
        assert_eq!(list.hit_types, vec!["F", "V", "W"]);
        let again = store.list_hot_lists().await.unwrap();
        assert_eq!(again[0].hit_types, vec!["F", "V", "W"]);
        db.finish().await.unwrap();
    }
}

/// Issue 26: approval and consultation dates still to come do not count as approved.
#[test]
fn a_camera_approval_dated_in_the_future_is_not_in_force() {
    use candor_store::cameras::Approval;
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let approval = |c: &str, a: &str| Approval {
        consultation_date: Some(c.into()),
        permit_reference: Some("P-1".into()),
        approving_authority: Some("Council".into()),
        approval_date: Some(a.into()),
    };
    let today = day("2026-12-07");
    assert!(
        approval("2026-01-10", "2026-02-01")
            .not_in_force(today)
            .is_empty()
    );
    let future = approval("2027-01-10", "2027-02-01").not_in_force(today);
    assert_eq!(future.len(), 2, "{future:?}");
    assert!(
        future[0].contains("consultation_date 2027-01-10"),
        "{future:?}"
    );
    let backwards = approval("2026-03-01", "2026-02-01").not_in_force(today);
    assert_eq!(backwards.len(), 1, "{backwards:?}");
    assert!(
        !approval("2026-01-10", "2026-12-08")
            .not_in_force(today)
            .is_empty()
    );
}

/// Issue 24: storing a policy version shortens, in the same transaction, what is already
/// stored without a hit to its retention; hits and the images of hits keep their expiry, and
/// a longer retention lengthens nothing.
#[tokio::test]
async fn a_new_policy_version_shortens_what_is_stored_and_never_lengthens_it() {
    use candor_store::retention::Shortened;
    const DAY: i64 = 86_400;
    for db in TestDb::all().await.unwrap() {
        let (store, keys) = setup(&db).await;
        let image_dir = db.path().join("images");
        store
            .create_camera(&camera("cam-1", approved()))
            .await
            .unwrap();
        let list = store
            .replace_hot_list(
                &HotListSpec {
                    name: "NCIC".into(),
                    source: ListSource::Ncic,
                    hit_type: "V".into(),
                    priority: 1,
                    hit_retention_secs: None,
                },
                &[],
            )
            .await
            .unwrap();
        let v1 = testing::retention();
        let now = now_ms();
        let (seen, hit_seen) = (now - 10 * DAY * 1000 - 1000, now - 10 * DAY * 1000);
        let image = |at: i64, of_hit: bool| {
            let (store, keys, dir) = (&store, &keys, &image_dir);
            let secs = v1.image_secs_for(of_hit);
            async move {
                store
                    .store_image(keys, dir, "cam-1", at, secs, "image/jpeg", b"\xff\xd8jpeg")
                    .await
                    .unwrap()
            }
        };
        let (plain_image, hit_image, hit_crop) = (
            image(seen, false).await,
            image(hit_seen, true).await,
            // Linked to its read by no column, but taken with it.
            image(hit_seen, true).await,
        );
        let mut plain = read("PLAIN1", seen);
        plain.image_id = Some(plain_image);
        let mut hot = read("ABC123", hit_seen);
        hot.image_id = Some(hit_image);
        hot.hits.push(hit(list.id));
        store
            .ingest_batch(&keys, &v1, "cam-1", "b1", b"h", vec![plain, hot])
            .await
            .unwrap();
        let expiries = || {
            let (store, keys, dir) = (&store, &keys, &image_dir);
            async move {
                let read = |plate: &'static str| async move {
                    store
                        .reads_by_plate(keys, plate, 0, i64::MAX, 1)
                        .await
                        .unwrap()[0]
                        .expires_at
                };
                let image = |id: i64| async move {
                    store
                        .get_image(keys, dir, id)
                        .await
                        .unwrap()
                        .unwrap()
                        .expires_at
                };
                [
                    read("PLAIN1").await,
                    image(plain_image).await,
                    read("ABC123").await,
                    image(hit_image).await,
                    image(hit_crop).await,
                ]
            }
        };
        let before = expiries().await;
        assert_eq!(before[0], seen + 30 * DAY * 1000);

        let week = RetentionPolicy {
            policy_version: 2,
            non_hit_secs: 7 * DAY,
            image_secs: 7 * DAY,
            ..v1.clone()
        };
        let shortened = store
            .save_policy_version(2, "{}", &week, None, now)
            .await
            .unwrap();
        assert_eq!(
            shortened,
            Shortened {
                reads: 1,
                images: 1
            }
        );
        let after = expiries().await;
        let in_a_week = seen + 7 * DAY * 1000;
        assert_eq!(after[..2], [in_a_week, in_a_week], "shortened to a week");
        assert_eq!(
            after[2..],
            before[2..],
            "the hit and its images keep theirs"
        );

        // A longer retention applies to what comes in next, never to what is stored.
        let months = RetentionPolicy {
            policy_version: 3,
            non_hit_secs: 60 * DAY,
            image_secs: 60 * DAY,
            ..v1.clone()
        };
        let shortened = store
            .save_policy_version(3, "{}", &months, None, now)
            .await
            .unwrap();
        assert_eq!(shortened, Shortened::default());
        assert_eq!(expiries().await, after);
        // A version that already exists stores nothing and shortens nothing.
        let day = RetentionPolicy {
            non_hit_secs: DAY,
            image_secs: DAY,
            ..months.clone()
        };
        let e = store
            .save_policy_version(3, "{}", &day, None, now)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        assert_eq!(expiries().await, after);

        // The purge takes the read and image shortened into the past.
        let r = store.purge(&keys, &image_dir, &months, now).await.unwrap();
        assert_eq!(
            (r.receipt.counts.non_hit_reads, r.receipt.counts.images),
            (1, 1)
        );
        assert_eq!(r.receipt.policy_version, "3");
        store.close().await;
        db.finish().await.unwrap();
    }
}
