//! Usage reports and the transparency page against seeded truth: reads, hits, dispositions,
//! actions, searches, reviews, user hot plates, legal holds and a purge spread over this
//! year and last; every published figure is checked against counts made here from the seed,
//! in the JSON, the HTML and the CSV exports, year over year included. Also: the page holds
//! no plate and no user name, and its checkpoint verifies with its key and agrees with the
//! full audit verification.

mod common;

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use common::TestServer;
use serde_json::{Value, json};

use candor_store::hits::{Disposition, HitAction, HitDetails, NewHit};
use candor_store::reads::{NewRead, ReadDetails};

const DAY: i64 = 86_400_000;

fn ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// One seeded read: its day, its plate, and its hit (hit type, disposition, action).
struct SeedRead {
    day: NaiveDate,
    plate: String,
    hit: Option<(&'static str, Option<Disposition>, Option<HitAction>)>,
}

/// The days the seed uses: this year so far and the same stretch of last year, plus a day
/// of last year after today's date (outside the year-to-date comparison).
fn seed_days(today: NaiveDate) -> Vec<NaiveDate> {
    let this_year = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap();
    let last_year = this_year - Months::new(12);
    let mut days = vec![this_year, today, last_year, today - Months::new(12)];
    // Later in last year than today's date: counts for last year, not for year to date.
    if let Some(late) = NaiveDate::from_ymd_opt(today.year() - 1, 12, 31)
        && late > today - Months::new(12)
    {
        days.push(late);
    }
    days
}

fn seed(today: NaiveDate) -> Vec<SeedRead> {
    use Disposition::*;
    use HitAction::{Arrest, Stop};
    let mut reads = Vec::new();
    for (i, day) in seed_days(today).into_iter().enumerate() {
        // i + 2 reads without a hit each day, and a varying mix of hits.
        for n in 0..(i + 2) {
            reads.push(SeedRead {
                day,
                plate: format!("PLN{i}{n}X"),
                hit: None,
            });
        }
        let hits: Vec<(&'static str, Option<Disposition>, Option<HitAction>)> = match i % 3 {
            0 => vec![
                ("V", Some(CorrectRead), Some(Arrest)),
                ("V", Some(Misread), None),
                ("F", None, None),
            ],
            1 => vec![
                ("V", Some(WrongState), Some(HitAction::None)),
                ("P", Some(CorrectRead), Some(Stop)),
            ],
            _ => vec![
                ("A", Some(Dismissed), None),
                ("V", Some(CorrectRead), Some(Stop)),
            ],
        };
        for (k, h) in hits.into_iter().enumerate() {
            reads.push(SeedRead {
                day,
                plate: format!("HIT{i}{k}Q"),
                hit: Some(h),
            });
        }
    }
    reads
}

/// The figures the seed should produce on the days in `[from, to)`.
#[derive(Debug, Default, PartialEq)]
struct Truth {
    detections: i64,
    hits: i64,
    hits_verified: i64,
    misread: i64,
    wrong_state: i64,
    correct_read: i64,
    dismissed: i64,
    stops: i64,
    arrests: i64,
    hits_by_type: BTreeMap<String, i64>,
    queries: i64,
    reviews: i64,
    concerns: i64,
}

fn truth(
    reads: &[SeedRead],
    searches: &[(NaiveDate, &str)],
    reviews: &[(NaiveDate, &str)],
    from: NaiveDate,
    to: NaiveDate,
) -> Truth {
    let mut t = Truth::default();
    let inside = |d: NaiveDate| from <= d && d < to;
    for r in reads.iter().filter(|r| inside(r.day)) {
        t.detections += 1;
        let Some((ty, disp, action)) = r.hit else {
            continue;
        };
        t.hits += 1;
        *t.hits_by_type.entry(ty.into()).or_default() += 1;
        if let Some(d) = disp {
            t.hits_verified += 1;
            match d {
                Disposition::CorrectRead => t.correct_read += 1,
                Disposition::WrongState => t.wrong_state += 1,
                Disposition::Misread => t.misread += 1,
                Disposition::Dismissed => t.dismissed += 1,
            }
        }
        match action {
            Some(HitAction::Stop) => t.stops += 1,
            Some(HitAction::Arrest) => t.arrests += 1,
            _ => {}
        }
    }
    t.queries = searches.iter().filter(|(d, _)| inside(*d)).count() as i64;
    for (_, verdict) in reviews.iter().filter(|(d, _)| inside(*d)) {
        t.reviews += 1;
        if *verdict == "concern" {
            t.concerns += 1;
        }
    }
    t
}

fn check_figures(f: &Value, t: &Truth, what: &str) {
    let n = |k: &str| {
        f[k].as_i64()
            .unwrap_or_else(|| panic!("{what}: no {k} in {f}"))
    };
    assert_eq!(n("detections"), t.detections, "{what} detections");
    assert_eq!(n("hits"), t.hits, "{what} hits");
    assert_eq!(n("hits_verified"), t.hits_verified, "{what} verified");
    assert_eq!(n("stops"), t.stops, "{what} stops");
    assert_eq!(n("arrests"), t.arrests, "{what} arrests");
    assert_eq!(n("queries"), t.queries, "{what} queries");
    assert_eq!(n("reviews"), t.reviews, "{what} reviews");
    assert_eq!(n("concerns"), t.concerns, "{what} concerns");
    let d = &f["dispositions"];
    assert_eq!(d["misread"].as_i64(), Some(t.misread), "{what} misread");
    assert_eq!(
        d["wrong_state"].as_i64(),
        Some(t.wrong_state),
        "{what} wrong state"
    );
    assert_eq!(
        d["correct_read"].as_i64(),
        Some(t.correct_read),
        "{what} correct"
    );
    assert_eq!(
        d["dismissed"].as_i64(),
        Some(t.dismissed),
        "{what} dismissed"
    );
    let by_type: BTreeMap<String, i64> = serde_json::from_value(f["hits_by_type"].clone()).unwrap();
    assert_eq!(by_type, t.hits_by_type, "{what} hits by type");
    if t.hits_verified > 0 {
        let rate = f["misread_rate"].as_f64().unwrap();
        assert!(
            (rate - t.misread as f64 / t.hits_verified as f64).abs() < 1e-9,
            "{what} misread rate"
        );
        let rate = f["wrong_state_rate"].as_f64().unwrap();
        assert!(
            (rate - t.wrong_state as f64 / t.hits_verified as f64).abs() < 1e-9,
            "{what} wrong-state rate"
        );
    } else {
        assert!(
            f["misread_rate"].is_null(),
            "{what} misread rate without verified hits"
        );
    }
}

#[tokio::test]
async fn every_published_figure_matches_the_seeded_records() {
    for server in TestServer::start_all().await {
        let state = &server.state;
        let store = &state.store;
        let today = chrono::Utc::now().date_naive();
        let tomorrow = today.succ_opt().unwrap();
        let this_year = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap();
        let last_year = this_year - Months::new(12);
        let next_year = this_year + Months::new(12);

        server.camera("cam-1").await;
        let officer = server.create_user("oscar.officer", "officer").await;
        let ivy = server.create_user("ivy.investigator", "investigator").await;
        let sam = server.create_user("sam.supervisor", "supervisor").await;
        let aud = server.create_user("audrey.auditor", "auditor").await;
        let pm = server.create_user("pat.manager", "program_manager").await;

        // Reads and hits, through the store's ingest (one batch per read keeps ids simple).
        let reads = seed(today);
        let mut live_read = None;
        for (i, r) in reads.iter().enumerate() {
            let hits = r
                .hit
                .map(|(ty, _, _)| NewHit {
                    list_id: None,
                    entry_id: None,
                    user_plate_id: None,
                    hit_type: ty.into(),
                    priority: 1,
                    match_kind: "exact".into(),
                    retention_secs: None,
                    details: HitDetails {
                        listed_plate: r.plate.clone(),
                        list_name: "seed".into(),
                        ..Default::default()
                    },
                })
                .into_iter()
                .collect();
            let outcome = store
                .ingest_batch(
                    &state.keys,
                    &candor_server::retention::in_force(state).await.unwrap(),
                    "cam-1",
                    &format!("seed-{i}"),
                    format!("hash-{i}").as_bytes(),
                    vec![NewRead {
                        captured_at: ms(r.day),
                        confidence: 0.9,
                        details: ReadDetails {
                            plate: r.plate.clone(),
                            ..Default::default()
                        },
                        image_id: None,
                        hits,
                    }],
                )
                .await
                .unwrap();
            if let (Some((_, disp, action)), Some(h)) = (r.hit, outcome.hits.first()) {
                if let Some(d) = disp {
                    store
                        .record_disposition(
                            h.hit_id,
                            d,
                            officer.id,
                            &officer.username,
                            None,
                            candor_store::testing::audit_entry("hit.verdict"),
                        )
                        .await
                        .unwrap();
                }
                if let Some(a) = action {
                    store
                        .record_action(
                            h.hit_id,
                            a,
                            false,
                            officer.id,
                            &officer.username,
                            None,
                            candor_store::testing::audit_entry("hit.verdict"),
                        )
                        .await
                        .unwrap();
                }
            }
            if r.day == today && r.hit.is_none() {
                live_read = Some(r.plate.clone());
            }
        }

        // Searches today through the API; last year's recorded the way the search route
        // records them (the counts cannot be back-dated through the API).
        let ivy_s = server.session_for(&ivy).await;
        let now = candor_store::now_ms();
        let mut searches: Vec<(NaiveDate, &str)> = Vec::new();
        for category in ["stolen-vehicle", "stolen-vehicle", "violent-crime"] {
            let res = server
                .client
                .post(server.url("/api/v1/search/reads"))
                .bearer_auth(&ivy_s.token)
                .json(&json!({"plate": live_read.clone().unwrap(), "from": now - DAY, "to": now + 1,
                    "purpose": {"category": category, "case_number": "2026-000123", "free_text": "seeded search"}}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            searches.push((today, category));
        }
        let earlier = today - Months::new(12);
        for _ in 0..5 {
            let mut tx = store.begin().await.unwrap();
            candor_store::metrics::count_search(&mut tx, ms(earlier), "wanted-person", ivy.id)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            searches.push((earlier, "wanted-person"));
        }

        // Reviews: one concern today, two approvals a year ago.
        let mut reviews: Vec<(NaiveDate, &str)> = Vec::new();
        for (day, verdict) in [
            (today, "concern"),
            (earlier, "approved"),
            (earlier, "approved"),
        ] {
            let id = store
                .enqueue_review(1, ivy.id, &["sample"], ms(day))
                .await
                .unwrap();
            store
                .record_review(id, sam.id, verdict, "seeded", ms(day))
                .await
                .unwrap();
            reviews.push((day, verdict));
        }

        // A user hot plate, a legal hold on a live read, and a purge that deletes every
        // expired read (last year's non-hit reads among them): their counts must stay.
        store
            .create_user_plate(
                &candor_store::hotlists::NewUserPlate {
                    plate: "USR777".into(),
                    state: None,
                    reason: "seeded".into(),
                    case_number: "2026-000124".into(),
                    expires_at: now + DAY,
                    hit_type: None,
                    priority: None,
                },
                officer.id,
                &officer.username,
                30 * DAY,
            )
            .await
            .unwrap();
        let read_id: i64 = {
            use candor_store::Row;
            sqlx::query("SELECT MAX(id) FROM reads")
                .fetch_one(store.pool())
                .await
                .unwrap()
                .try_get(0)
                .unwrap()
        };
        store
            .place_hold(
                read_id,
                "seeded court case",
                "2026-000125",
                pm.id,
                &pm.username,
            )
            .await
            .unwrap();
        let receipt = store
            .purge(
                &state.keys,
                &state.config.image_dir(),
                &candor_server::retention::in_force(state).await.unwrap(),
                now,
            )
            .await
            .unwrap();
        let purged = receipt.receipt.counts.non_hit_reads
            + receipt.receipt.counts.hit_reads
            + receipt.receipt.counts.hits
            + receipt.receipt.counts.images;
        assert!(
            receipt.receipt.counts.non_hit_reads > 0,
            "last year's reads were purged"
        );

        // A signed checkpoint to publish.
        let key = candor_server::routes::audit::audit_signing_key(&state.config.key_dir()).unwrap();
        store
            .checkpoint_audit(&key, chrono::Utc::now())
            .await
            .unwrap();

        // ---- the open data -------------------------------------------------------------
        let page: Value = server
            .client
            .get(server.url("/transparency.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let years = page["metrics"]["years"].as_array().unwrap();
        let year_of = |label: String| {
            years
                .iter()
                .find(|b| b["label"] == label.as_str())
                .unwrap_or_else(|| panic!("no year {label}"))
        };
        let last = year_of((today.year() - 1).to_string());
        let this = year_of(today.year().to_string());
        check_figures(
            &last["figures"],
            &truth(&reads, &searches, &reviews, last_year, this_year),
            "last year",
        );
        check_figures(
            &this["figures"],
            &truth(&reads, &searches, &reviews, this_year, next_year),
            "this year",
        );
        assert_eq!(this["figures"]["users_querying"], 1);
        assert_eq!(this["figures"]["user_hot_plates"], 1);
        assert_eq!(this["figures"]["purges"], 1);
        assert_eq!(this["figures"]["records_purged"], purged);
        assert_eq!(this["figures"]["legal_holds_placed"], 1);
        assert_eq!(page["metrics"]["legal_holds_active"], 1);
        assert_eq!(this["figures"]["queries_by_purpose"]["stolen-vehicle"], 2);
        assert!(
            this["figures"].get("queries_by_user").is_none(),
            "no per-user counts in public"
        );

        // Year to date against the same days last year.
        let yoy = &page["metrics"]["year_to_date"];
        let now_truth = truth(&reads, &searches, &reviews, this_year, tomorrow);
        let then_truth = truth(
            &reads,
            &searches,
            &reviews,
            last_year,
            tomorrow - Months::new(12),
        );
        let cmp = |key: &str| {
            yoy["comparisons"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["key"] == key)
                .unwrap()
                .clone()
        };
        for (key, now_v, then_v) in [
            ("detections", now_truth.detections, then_truth.detections),
            ("hits", now_truth.hits, then_truth.hits),
            ("arrests", now_truth.arrests, then_truth.arrests),
            ("queries", now_truth.queries, then_truth.queries),
            ("reviews", now_truth.reviews, then_truth.reviews),
        ] {
            let c = cmp(key);
            assert_eq!(
                (c["current"].as_i64(), c["previous"].as_i64()),
                (Some(now_v), Some(then_v)),
                "{key} year to date"
            );
            assert_eq!(c["change"].as_i64(), Some(now_v - then_v), "{key} change");
        }

        let retention = page["retention"].as_array().unwrap();
        assert!(
            retention
                .iter()
                .any(|r| r["class"] == "Hits" && r["period"] == "1 year"),
            "{retention:?}"
        );
        assert!(
            retention
                .iter()
                .any(|r| r["class"] == "Reads without a hit" && r["period"] == "21 days")
        );

        assert!(
            page["policy"]["document"]["review"].is_null(),
            "review thresholds withheld"
        );
        assert_eq!(
            page["policy"]["document"]["agency_name"],
            page["agency_name"]
        );

        // Policy choices: no camera locations by default; counts by type.
        assert_eq!(page["cameras"]["by_type"]["fixed"], 1);
        assert!(page["cameras"]["placements"].is_null());
        assert_eq!(page["purge_receipts"].as_array().unwrap().len(), 1);

        // ---- the checkpoint verifies, and agrees with the full verification ------------
        let text = page["audit"]["checkpoint"]["text"].as_str().unwrap();
        let key_hex = page["audit"]["public_key"].as_str().unwrap();
        let published_key = candor_audit::VerifyingKey::from_bytes(
            &hex::decode(key_hex).unwrap().try_into().unwrap(),
        )
        .unwrap();
        let checkpoint = candor_audit::Checkpoint::from_text(text).unwrap();
        checkpoint
            .verify(&published_key)
            .expect("published checkpoint verifies with the published key");
        assert_eq!(
            page["audit"]["checkpoint"]["length"].as_u64(),
            Some(checkpoint.length)
        );
        assert_eq!(
            page["audit"]["checkpoint"]["head_hash"],
            checkpoint.head_hash.to_string()
        );
        // `candor audit verify --public-key` runs this verification.
        let report = store
            .verify_audit(&published_key)
            .await
            .unwrap()
            .expect("chain intact");
        assert!(report.checkpoints_matched >= 1);
        let record = store.audit_records(checkpoint.length - 1, 1).await.unwrap();
        assert_eq!(
            record[0].hash, checkpoint.head_hash,
            "the checkpoint's head is the chain's record"
        );
        let mut forged = text.replace(
            &format!("length: {}", checkpoint.length),
            &format!("length: {}", checkpoint.length + 1),
        );
        forged.push('\n');
        assert!(
            candor_audit::Checkpoint::from_text(&forged)
                .unwrap()
                .verify(&published_key)
                .is_err()
        );

        // ---- the page for people -------------------------------------------------------
        let html = server
            .client
            .get(server.url("/transparency"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for r in &reads {
            assert!(!html.contains(&r.plate), "plate {} on the page", r.plate);
        }
        assert!(!html.contains("USR777"));
        for name in [
            "oscar.officer",
            "ivy.investigator",
            "sam.supervisor",
            "audrey.auditor",
            "pat.manager",
            "Test ivy",
        ] {
            assert!(!html.contains(name), "user {name} on the page");
            assert!(
                !page.to_string().contains(name),
                "user {name} in the open data"
            );
        }
        let open_data = page.to_string();
        for r in &reads {
            assert!(
                !open_data.contains(&r.plate),
                "plate {} in the open data",
                r.plate
            );
        }
        let by_year = table_rows(&html, "by-year");
        let det = &by_year["Detections (plate reads)"];
        let col = |y: i32| {
            years
                .iter()
                .position(|b| b["label"] == y.to_string().as_str())
                .unwrap()
        };
        assert_eq!(
            det[col(today.year() - 1)],
            last["figures"]["detections"].to_string()
        );
        assert_eq!(
            det[col(today.year())],
            this["figures"]["detections"].to_string()
        );
        assert_eq!(
            by_year["Arrests related to ALPR"][col(today.year())],
            truth(&reads, &searches, &reviews, this_year, next_year)
                .arrests
                .to_string()
        );
        let ytd = table_rows(&html, "year-over-year");
        assert_eq!(ytd["Hot-list hits"][0], now_truth.hits.to_string());
        assert_eq!(ytd["Hot-list hits"][1], then_truth.hits.to_string());
        assert!(html.contains(key_hex) && html.contains(&checkpoint.head_hash.to_string()));
        assert!(html.contains("<svg"), "charts are drawn");

        // ---- the report API, JSON and CSV ----------------------------------------------
        let a = server.session_for(&aud).await;
        let q = format!("period=year&from={last_year}&to={next_year}");
        let res = server
            .client
            .get(server.url(&format!("/api/v1/reports/usage?{q}")))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let rep = &body["report"];
        check_figures(
            &rep["buckets"][0]["figures"],
            &truth(&reads, &searches, &reviews, last_year, this_year),
            "API last year",
        );
        check_figures(
            &rep["buckets"][1]["figures"],
            &truth(&reads, &searches, &reviews, this_year, next_year),
            "API this year",
        );
        check_figures(
            &rep["totals"],
            &truth(&reads, &searches, &reviews, last_year, next_year),
            "API total",
        );
        // Program managers and auditors see who searched how often.
        assert_eq!(
            rep["totals"]["queries_by_user"][format!("ivy.investigator ({})", ivy.id)],
            8
        );

        let csv_text = server
            .client
            .get(server.url(&format!("/api/v1/reports/usage?{q}&format=csv")))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
        let header = rdr.headers().unwrap().clone();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3, "two years and a total");
        for (row, (from, to)) in rows.iter().zip([
            (last_year, this_year),
            (this_year, next_year),
            (last_year, next_year),
        ]) {
            let t = truth(&reads, &searches, &reviews, from, to);
            assert_eq!(row[col("detections")], t.detections.to_string());
            assert_eq!(row[col("hits")], t.hits.to_string());
            assert_eq!(row[col("misread")], t.misread.to_string());
            assert_eq!(row[col("wrong_state")], t.wrong_state.to_string());
            assert_eq!(row[col("arrests")], t.arrests.to_string());
            assert_eq!(row[col("stops")], t.stops.to_string());
            assert_eq!(row[col("queries")], t.queries.to_string());
            assert_eq!(
                row[col("hits_type:V")],
                t.hits_by_type.get("V").copied().unwrap_or(0).to_string()
            );
        }

        let yoy_csv = server
            .client
            .get(server.url(&format!(
                "/api/v1/reports/usage/year-over-year?from={this_year}&to={tomorrow}&format=csv"
            )))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = yoy_csv
            .lines()
            .find(|l| l.starts_with("detections,"))
            .unwrap();
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(
            (cells[3], cells[6]),
            (
                now_truth.detections.to_string().as_str(),
                then_truth.detections.to_string().as_str()
            )
        );

        // Viewing and exporting are audited.
        let audited: Vec<Value> = server
            .client
            .get(server.url("/api/v1/audit?action=report."))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(audited.iter().any(|r| r["action"] == "report.export"));
        assert!(audited.iter().any(|r| r["action"] == "report.view"));

        // Bad choices get clear errors.
        let res = server
            .client
            .get(server.url("/api/v1/reports/usage?period=week"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        assert!(res.text().await.unwrap().contains("week"));
        let res = server
            .client
            .get(server.url("/api/v1/reports/usage?period=day&from=2020-01-01&to=2026-01-01"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);

        // The console pages render the same figures.
        let page_html = server
            .client
            .get(server.url(&format!("/console/reports?{q}")))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let figures = table_rows(&page_html, "figures");
        assert_eq!(
            figures["Hot-list hits"][2],
            truth(&reads, &searches, &reviews, last_year, next_year)
                .hits
                .to_string()
        );
        assert!(page_html.contains(&format!("ivy.investigator ({})", ivy.id)));
        let printable = server
            .client
            .get(server.url(&format!(
                "/console/reports/usage-report?year={}",
                today.year() - 1
            )))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let figures = table_rows(&printable, "figures");
        assert_eq!(
            figures["Detections (plate reads)"][4],
            truth(&reads, &searches, &reviews, last_year, this_year)
                .detections
                .to_string()
        );

        server.stop().await;
    }
}

/// Rows of the HTML table with `id`: first cell → the other cells' text.
fn table_rows(html: &str, id: &str) -> BTreeMap<String, Vec<String>> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let mut out = BTreeMap::new();
    for row in table.split("<tr>").skip(1) {
        let cells: Vec<String> = row
            .split("<td>")
            .skip(1)
            .map(|c| c.split("</td>").next().unwrap_or("").to_string())
            .collect();
        if let Some((first, rest)) = cells.split_first() {
            out.insert(first.clone(), rest.to_vec());
        }
    }
    out
}

#[tokio::test]
async fn the_policy_chooses_what_the_page_shows() {
    let server = TestServer::start(candor_store::testing::TestDb::sqlite().unwrap()).await;
    server.camera("cam-9").await;
    let mut policy = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap()
        .document;
    policy.version += 1;
    policy.transparency.camera_locations = true;
    policy.transparency.queries_by_purpose = false;
    policy.transparency.purge_receipts = false;
    server
        .state
        .store
        .save_policy_version(
            i64::from(policy.version),
            &policy.to_json(),
            &candor_server::retention::of_document(i64::from(policy.version), &policy),
            None,
            candor_store::now_ms(),
        )
        .await
        .unwrap();
    let page: Value = server
        .client
        .get(server.url("/transparency.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let places = page["cameras"]["placements"].as_array().unwrap();
    assert_eq!(places[0]["location"], "Main St & 3rd");
    assert!(
        places[0]["latitude"].is_null(),
        "coordinates only when the policy says so"
    );
    assert!(page["purge_receipts"].is_null());
    assert_eq!(page["policy"]["history"].as_array().unwrap().len(), 1);
    let html = server
        .client
        .get(server.url("/transparency"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Main St &#38; 3rd") || html.contains("Main St &amp; 3rd"),
        "placements listed"
    );
    assert!(!html.contains("id=\"purges\""));
    server.stop().await;
}

/// The page in a real headless Chromium: it loads, shows the figures and charts, and is
/// captured (`CANDOR_WRITE_SCREENSHOTS=1` writes `docs/transparency.png`).
#[tokio::test]
async fn the_page_renders_in_chromium() {
    let server = TestServer::start(candor_store::testing::TestDb::sqlite().unwrap()).await;
    let state = &server.state;
    server.camera("cam-1").await;
    let today = chrono::Utc::now().date_naive();
    for (i, day) in [today - Months::new(12), today - Months::new(1), today]
        .into_iter()
        .enumerate()
    {
        let reads = (0..(3 + i * 2))
            .map(|n| NewRead {
                captured_at: ms(day),
                confidence: 0.9,
                details: ReadDetails {
                    plate: format!("SHOT{i}{n}"),
                    ..Default::default()
                },
                image_id: None,
                // Every third read is a hit, so the page shows hits and verdicts too.
                hits: (n % 3 == 0)
                    .then(|| NewHit {
                        list_id: None,
                        entry_id: None,
                        user_plate_id: None,
                        hit_type: if n % 2 == 0 { "V" } else { "F" }.into(),
                        priority: 1,
                        match_kind: "exact".into(),
                        retention_secs: None,
                        details: HitDetails::default(),
                    })
                    .into_iter()
                    .collect(),
            })
            .collect();
        let out = state
            .store
            .ingest_batch(
                &state.keys,
                &candor_server::retention::in_force(state).await.unwrap(),
                "cam-1",
                &format!("b{i}"),
                &[i as u8],
                reads,
            )
            .await
            .unwrap();
        for (k, h) in out.hits.iter().enumerate() {
            let verdict = if k == 0 {
                Disposition::CorrectRead
            } else {
                Disposition::Misread
            };
            state
                .store
                .record_disposition(
                    h.hit_id,
                    verdict,
                    1,
                    "seed",
                    None,
                    candor_store::testing::audit_entry("hit.verdict"),
                )
                .await
                .unwrap();
            if k == 0 {
                state
                    .store
                    .record_action(
                        h.hit_id,
                        HitAction::Stop,
                        false,
                        1,
                        "seed",
                        None,
                        candor_store::testing::audit_entry("hit.verdict"),
                    )
                    .await
                    .unwrap();
            }
        }
    }
    let key = candor_server::routes::audit::audit_signing_key(&state.config.key_dir()).unwrap();
    state
        .store
        .checkpoint_audit(&key, chrono::Utc::now())
        .await
        .unwrap();

    let browser = common::browser::Browser::start().await;
    browser.open(&server, "/transparency").await;
    let title = browser.text("h1").await;
    assert!(title.contains("Automated licence-plate readers"), "{title}");
    let by_year = browser.text("#by-year").await;
    assert!(by_year.contains(&today.year().to_string()), "{by_year}");
    assert!(browser.has("#metrics svg").await, "charts drawn");
    let checkpoint = browser.text("#checkpoint-text").await;
    assert!(
        checkpoint.starts_with("candor audit checkpoint v1"),
        "{checkpoint}"
    );
    let cameras = browser.text("#cameras p").await;
    assert!(cameras.starts_with("1 camera in service"), "{cameras}");
    let steps = browser.text("#audit ol").await;
    assert!(steps.contains("checkpoint text above"), "{steps}");
    browser.client.set_window_size(1280, 2400).await.unwrap();
    // Twenty-four months run down the page, not off its side.
    let fits = browser
        .client
        .execute(
            "const ts = [...document.querySelectorAll('#by-month table')]; \
             return [ts.map(t => t.rows.length), \
                     ts.every(t => t.scrollWidth <= t.parentElement.clientWidth)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fits,
        serde_json::json!([[25, 25, 25], true]),
        "rows of each table, all fit the width"
    );
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"));
    if std::env::var("CANDOR_WRITE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/transparency.png");
        std::fs::write(&path, &png).unwrap();
    }
    browser.stop().await;
    server.stop().await;
}
