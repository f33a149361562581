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
use candor_store::testing::{self, TestDb};
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
        vehicle_color: None,
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
    let policy = testing::retention();
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

/// How many reads a search for `pattern` should decrypt: those whose own signature passes
/// (the plate filter; the first signature for reads stored before filters; every read
/// without either).
async fn expected_candidates(store: &Store, keys: &KeyRing, pattern: &str) -> usize {
    use sqlx::Row;
    let required = Pattern::parse(pattern).unwrap().required_grams(None);
    let rows = sqlx::query("SELECT id, key_window, plate_filter, plate_sig FROM reads")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let mut count = 0;
    for row in rows {
        let wk = keys.get(row.get("key_window")).unwrap().unwrap();
        let (filter, signature): (Option<i64>, Option<i64>) =
            (row.get("plate_filter"), row.get("plate_sig"));
        let passes = match (filter, signature) {
            (Some(f), _) => f & wk.pattern_filter(&required) == wk.pattern_filter(&required),
            (None, Some(s)) => s & wk.pattern_mask(&required) == wk.pattern_mask(&required),
            (None, None) => true,
        };
        count += usize::from(passes);
    }
    count
}

#[tokio::test]
async fn only_reads_whose_signature_passes_are_decrypted() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        KeyRing::create(&db.path().join("keys")).unwrap();
        let keys = KeyRing::open(&db.path().join("keys"), DEFAULT_WINDOW_MS).unwrap();
        let now = now_ms();
        seed(&store, &keys, now).await;
        let (from, to) = (now - 3_600_000, now + 1);
        for pattern in ["AB?12*", "*999", "ZZ*"] {
            let page = store
                .search_reads(&keys, &search(pattern, from, to))
                .await
                .unwrap();
            assert_eq!(
                page.decrypted,
                expected_candidates(&store, &keys, pattern).await,
                "{pattern}"
            );
        }
        db.finish().await.unwrap();
    }
}

#[tokio::test]
async fn reads_stored_before_filters_are_still_found() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        KeyRing::create(&db.path().join("keys")).unwrap();
        let keys = KeyRing::open(&db.path().join("keys"), DEFAULT_WINDOW_MS).unwrap();
        let now = now_ms();
        seed(&store, &keys, now).await;
        let (from, to) = (now - 3_600_000, now + 1);
        // Reads stored before signatures existed have neither: every one is a candidate.
        sqlx::query("UPDATE reads SET plate_filter = NULL, plate_sig = NULL")
            .execute(store.pool())
            .await
            .unwrap();
        let page = store
            .search_reads(&keys, &search("AB?12*", from, to))
            .await
            .unwrap();
        assert_eq!(page.reads.len(), 5);
        assert_eq!(page.decrypted, 8, "every read is a candidate");

        // Reads stored before filters have the first signature (one bit per gram): half of
        // them here, the other half with none.
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM reads ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        for id in ids.iter().step_by(2) {
            let read = store.get_read(&keys, *id).await.unwrap().unwrap();
            let window: i64 = sqlx::query_scalar("SELECT key_window FROM reads WHERE id = $1")
                .bind(id)
                .fetch_one(store.pool())
                .await
                .unwrap();
            let wk = keys.get(window).unwrap().unwrap();
            sqlx::query("UPDATE reads SET plate_sig = $1 WHERE id = $2")
                .bind(wk.plate_signature(&read.details.plate))
                .bind(id)
                .execute(store.pool())
                .await
                .unwrap();
        }
        for (pattern, found) in [("AB?12*", 5), ("*ABC*", 5), ("XYZ*", 1)] {
            let page = store
                .search_reads(&keys, &search(pattern, from, to))
                .await
                .unwrap();
            assert_eq!(page.reads.len(), found, "{pattern}");
            assert_eq!(
                page.decrypted,
                expected_candidates(&store, &keys, pattern).await,
                "{pattern}"
            );
        }
        db.finish().await.unwrap();
    }
}

/// More windows than one statement has arms: an arm then covers several windows, and
/// results still come newest first across all of them, page after page.
#[tokio::test]
async fn searches_span_more_windows_than_arms() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        KeyRing::create(&db.path().join("keys")).unwrap();
        // One-second windows: reads a second apart land in 250 windows.
        let keys = KeyRing::open(&db.path().join("keys"), 1_000).unwrap();
        store
            .create_camera(&NewCamera {
                id: "cam-a".into(),
                name: "cam-a".into(),
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
        let now = now_ms();
        let reads: Vec<NewRead> = (0..250)
            .map(|i| {
                let plate = if i % 3 == 0 { "ABC1234" } else { "XYZ9876" };
                read(plate, now - 250_000 + i * 1_000, false)
            })
            .collect();
        store
            .ingest_batch(&keys, &testing::retention(), "cam-a", "b1", b"h", reads)
            .await
            .unwrap();
        let windows: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT key_window) FROM reads")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(windows, 250);
        let (from, to) = (now - 300_000, now + 1);
        for (pattern, expected) in [("ABC1234", 84), ("AB*", 84), ("*98*", 166), ("*9?7*", 166)] {
            let mut q = search(pattern, from, to);
            q.limit = 40;
            let mut seen: Vec<(i64, i64)> = Vec::new();
            loop {
                let page = store.search_reads(&keys, &q).await.unwrap();
                seen.extend(page.reads.iter().map(|r| (r.captured_at, r.id)));
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen.len(), expected, "{pattern}");
            assert!(
                seen.windows(2).all(|w| w[0] > w[1]),
                "{pattern}: newest first, nothing repeated"
            );
        }
        db.finish().await.unwrap();
    }
}

/// Which reads a search listed: recorded with the search, looked up by read or by image,
/// and gone when the reads are purged.
#[tokio::test]
async fn what_a_search_listed_is_kept_until_its_reads_are_purged() {
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        KeyRing::create(&db.path().join("keys")).unwrap();
        let keys = KeyRing::open(&db.path().join("keys"), DEFAULT_WINDOW_MS).unwrap();
        let image_dir = db.path().join("images");
        let now = now_ms();
        seed(&store, &keys, now).await;
        let image = store
            .store_image(
                &keys,
                &image_dir,
                "cam-a",
                now,
                60,
                "image/jpeg",
                b"\xff\xd8jpeg",
            )
            .await
            .unwrap();
        let mut with_image = read("IMG001", now - 1_000, false);
        with_image.image_id = Some(image);
        let policy = RetentionPolicy {
            non_hit_secs: 1,
            ..testing::retention()
        };
        store
            .ingest_batch(&keys, &policy, "cam-a", "img", b"i", vec![with_image])
            .await
            .unwrap();
        let id_of = |plate: &'static str| {
            let store = store.clone();
            let keys = &keys;
            async move {
                store
                    .reads_by_plate(keys, plate, 0, i64::MAX, 1)
                    .await
                    .unwrap()[0]
                    .id
            }
        };
        let (listed, other, pictured) = (
            id_of("XYZ999").await,
            id_of("ZZABC12").await,
            id_of("IMG001").await,
        );

        let mut tx = store.begin().await.unwrap();
        store
            .record_search_results(&mut tx, 7, &[listed, pictured, listed])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(store.search_listed(7, listed).await.unwrap());
        assert!(!store.search_listed(7, other).await.unwrap(), "not listed");
        assert!(
            !store.search_listed(8, listed).await.unwrap(),
            "another search"
        );
        assert_eq!(
            store.search_listed_image(7, image).await.unwrap(),
            Some(pictured)
        );
        assert_eq!(store.search_listed_image(8, image).await.unwrap(), None);
        assert_eq!(store.search_listed_image(7, image + 1).await.unwrap(), None);

        // The purge takes the expired read, and what the search listed of it.
        store
            .purge(&keys, &image_dir, &policy, now + 5_000)
            .await
            .unwrap();
        assert!(!store.search_listed(7, pictured).await.unwrap());
        assert_eq!(store.search_listed_image(7, image).await.unwrap(), None);
        assert!(
            store.search_listed(7, listed).await.unwrap(),
            "a kept read stays listed"
        );
    }
}

/// Issue 26: changing the window length (`retention.key_window_secs`) hides no earlier read,
/// and a purge reports the windows it kept for holds with their own spans.
#[tokio::test]
async fn a_window_knows_its_own_length_after_the_length_changes() {
    const DAY: i64 = 86_400_000;
    const HOUR: i64 = 3_600_000;
    for db in TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        let dir = db.path().join("keys");
        KeyRing::create(&dir).unwrap();
        let daily = KeyRing::open(&dir, DAY).unwrap();
        let now = now_ms();
        seed(&store, &daily, now).await;
        let short = RetentionPolicy {
            non_hit_secs: 60,
            ..testing::retention()
        };
        store
            .ingest_batch(
                &daily,
                &short,
                "cam-a",
                "held",
                b"h",
                vec![read("HELD01", now - 1_000, false)],
            )
            .await
            .unwrap();
        let held = store
            .reads_by_plate(&daily, "HELD01", 0, i64::MAX, 1)
            .await
            .unwrap()[0]
            .id;
        store
            .place_hold(held, "evidence", "2026-000123", 1, "pm")
            .await
            .unwrap();
        let held_window = daily.window_for(now + 60_000);
        drop(daily);

        // The administrator moves to hourly windows.
        let hourly = KeyRing::open(&dir, HOUR).unwrap();
        let found = store
            .search_reads(&hourly, &search("ABC1234", now - HOUR, now + 1))
            .await
            .unwrap();
        assert_eq!(
            plates(&found).len(),
            4,
            "reads sealed under daily windows are still found"
        );
        store
            .ingest_batch(
                &hourly,
                &testing::retention(),
                "cam-b",
                "new",
                b"n",
                vec![read("ABC1234", now - 500, false)],
            )
            .await
            .unwrap();
        let found = store
            .search_reads(&hourly, &search("ABC1234", now - HOUR, now + 1))
            .await
            .unwrap();
        assert_eq!(
            plates(&found).len(),
            5,
            "and so are those under the new ones"
        );

        // Two days on, the held read's daily window has ended and is kept for its hold; no
        // other window is (the others end weeks from now), and each has its own span.
        let receipt = store
            .purge(
                &hourly,
                &db.path().join("images"),
                &testing::retention(),
                now + 2 * DAY,
            )
            .await
            .unwrap();
        let kept = &receipt.receipt.windows_kept_for_holds;
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].window, held_window);
        assert_eq!(
            (kept[0].starts_at, kept[0].ends_at),
            (held_window * DAY, (held_window + 1) * DAY)
        );
        assert!(
            receipt.receipt.windows_destroyed.is_empty(),
            "{:?}",
            receipt.receipt.windows_destroyed
        );
        let found = store
            .search_reads(&hourly, &search("ABC1234", now - HOUR, now + 1))
            .await
            .unwrap();
        assert_eq!(plates(&found).len(), 5, "nothing live was destroyed");
        db.finish().await.unwrap();
    }
}
