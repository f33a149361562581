//! Store search: whole plates through the blind index, patterns through the keyed gram
//! signatures, look-alikes, cameras, hits only, cursor pages; on every configured backend.

use candor_platetext::lookalike::LookAlikeClasses;
use candor_platetext::wildcard::Pattern;
use candor_store::cameras::{Approval, CameraKind, NewCamera};
use candor_store::hits::{HitDetails, NewHit};
use candor_store::keys::{DEFAULT_WINDOW_MS, KeyRing};
use candor_store::reads::{NewRead, ReadDetails};
use candor_store::retention::RetentionPolicy;
use candor_store::search::{LookAlikes, ReadSearch, SearchCursor};
use candor_store::testing::TestDb;
use candor_store::{Store, now_ms};

fn read(plate: &str, captured_at: i64, hit: bool) -> NewRead {
    NewRead {
        captured_at,
        confidence: 0.9,
        details: ReadDetails {
            plate: plate.into(),
            ..Default::default()
        },
        image_id: None,
        hits: if hit {
            vec![NewHit {
                list_id: None,
                entry_id: None,
                user_plate_id: None,
                hit_type: "V".into(),
                priority: 1,
                match_kind: "exact".into(),
                retention_secs: None,
                details: HitDetails {
                    listed_plate: plate.into(),
                    list_name: "stolen".into(),
                    ..Default::default()
                },
            }]
        } else {
            Vec::new()
        },
    }
}

fn search(pattern: &str, from: i64, to: i64) -> ReadSearch {
    ReadSearch {
        pattern: Pattern::parse(pattern).unwrap(),
        lookalikes: None,
        from,
        to,
        cameras: None,
        hits_only: false,
        limit: 100,
        after: None,
    }
}

fn plates(page: &candor_store::search::ReadPage) -> Vec<String> {
    page.reads.iter().map(|r| r.details.plate.clone()).collect()
}

/// Reads on two cameras, a minute apart, newest first: ABC1234 ×4 (one a hit), ABD1299,
/// XYZ999, A8C1234 (look-alike of ABC1234), ZZABC12.
async fn seed(store: &Store, keys: &KeyRing, now: i64) {
    for cam in ["cam-a", "cam-b"] {
        store
            .create_camera(&NewCamera {
                id: cam.into(),
                name: cam.into(),
                kind: CameraKind::Fixed,
                location: "Main St".into(),
                latitude: None,
                longitude: None,
                direction: "north".into(),
                justification: "test".into(),
                approval: Approval::default(),
            })
            .await
            .unwrap();
    }
    let policy = RetentionPolicy::default();
    let a = [
        read("ABC1234", now - 60_000, false),
        read("ABC1234", now - 120_000, true),
        read("ABD1299", now - 180_000, false),
        read("XYZ999", now - 240_000, false),
    ];
    let b = [
        read("ABC1234", now - 60_000, false),
        read("ABC1234", now - 300_000, false),
        read("A8C1234", now - 360_000, false),
        read("ZZABC12", now - 420_000, false),
    ];
    for (cam, reads) in [("cam-a", a), ("cam-b", b)] {
        store
            .ingest_batch(keys, &policy, cam, cam, b"h", reads.to_vec())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn patterns_lookalikes_cameras_hits_and_pages() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        KeyRing::create(&db.path().join("keys")).unwrap();
        let keys = KeyRing::open(&db.path().join("keys"), DEFAULT_WINDOW_MS).unwrap();
        let now = now_ms();
        seed(&store, &keys, now).await;
        let (from, to) = (now - 3_600_000, now + 1);

        let exact = store
            .search_reads(&keys, &search("abc-1234", from, to))
            .await
            .unwrap();
        assert_eq!(plates(&exact), vec!["ABC1234"; 4]);
        assert_eq!(exact.decrypted, 4, "a whole plate opens only its own reads");
        // Newest first, ties by id.
        let times: Vec<(i64, i64)> = exact.reads.iter().map(|r| (r.captured_at, r.id)).collect();
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted);

        let wild = store
            .search_reads(&keys, &search("AB?12*", from, to))
            .await
            .unwrap();
        let mut got = plates(&wild);
        got.sort();
        assert_eq!(
            got,
            vec!["ABC1234", "ABC1234", "ABC1234", "ABC1234", "ABD1299"]
        );

        let inner = store
            .search_reads(&keys, &search("*ABC*", from, to))
            .await
            .unwrap();
        assert_eq!(inner.reads.len(), 5, "ABC1234 ×4 and ZZABC12");

        assert!(
            store
                .search_reads(&keys, &search("A8C1234", from, to))
                .await
                .unwrap()
                .reads
                .len()
                == 1
        );
        let mut look = search("A8C1234", from, to);
        look.lookalikes = Some(LookAlikes {
            classes: LookAlikeClasses::vendor_default(),
            budget: 1,
        });
        assert_eq!(
            store.search_reads(&keys, &look).await.unwrap().reads.len(),
            5,
            "A8C1234 and the four ABC1234 (8 looks like B)"
        );

        let mut one_camera = search("ABC1234", from, to);
        one_camera.cameras = Some(vec!["cam-b".into()]);
        let page = store.search_reads(&keys, &one_camera).await.unwrap();
        assert_eq!(page.reads.len(), 2);
        assert!(page.reads.iter().all(|r| r.camera_id == "cam-b"));
        one_camera.cameras = Some(Vec::new());
        assert!(
            store
                .search_reads(&keys, &one_camera)
                .await
                .unwrap()
                .reads
                .is_empty()
        );

        let mut hits = search("AB*", from, to);
        hits.hits_only = true;
        let page = store.search_reads(&keys, &hits).await.unwrap();
        assert_eq!(page.reads.len(), 1);
        assert!(page.reads[0].is_hit);
        let found = store
            .hits_for_reads(&keys, &[page.reads[0].id])
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].details.listed_plate, "ABC1234");

        // Pages of 2 over the five AB?12* reads: 2, 2, 1, nothing repeated or skipped,
        // though two reads share a capture time.
        let mut paged = search("AB?12*", from, to);
        paged.limit = 2;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.search_reads(&keys, &paged).await.unwrap();
            pages += 1;
            seen.extend(page.reads.iter().map(|r| r.id));
            match page.next {
                Some(c) => paged.after = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let mut all: Vec<i64> = wild.reads.iter().map(|r| r.id).collect();
        all.sort();
        seen.sort();
        assert_eq!(seen, all);

        // Time range: only the last two minutes (both reads at now-60s, one at now-120s).
        let recent = store
            .search_reads(&keys, &search("ABC*", now - 150_000, to))
            .await
            .unwrap();
        assert_eq!(recent.reads.len(), 3);

        // Cursors round-trip and bad ones are named.
        let c = SearchCursor {
            captured_at: 17,
            id: 4,
        };
        assert_eq!(c.to_string().parse::<SearchCursor>().unwrap(), c);
        assert!("17:4".parse::<SearchCursor>().is_err());
        db.finish().await.unwrap();
    }
}

#[tokio::test]
async fn reads_without_a_signature_are_still_found() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        KeyRing::create(&db.path().join("keys")).unwrap();
        let keys = KeyRing::open(&db.path().join("keys"), DEFAULT_WINDOW_MS).unwrap();
        let now = now_ms();
        seed(&store, &keys, now).await;
        // Reads stored before signatures existed have none.
        sqlx::query("UPDATE reads SET plate_sig = NULL")
            .execute(store.pool())
            .await
            .unwrap();
        let page = store
            .search_reads(&keys, &search("AB?12*", now - 3_600_000, now + 1))
            .await
            .unwrap();
        assert_eq!(page.reads.len(), 5);
        assert_eq!(page.decrypted, 8, "every read is a candidate");
        db.finish().await.unwrap();
    }
}
