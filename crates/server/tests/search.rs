//! Purpose-bound search over reads and hits: full and partial plates, look-alikes, time,
//! cameras, area, cursor pages; a purpose the policy allows, within its limits, audited
//! before any result is returned; refused purposes and bad queries say why.

mod common;

use candor_store::cameras::{Approval, CameraKind, NewCamera};
use candor_store::reads::{NewRead, ReadDetails};
use common::TestServer;
use serde_json::{Value, json};

async fn seed_reads(server: &TestServer, now: i64) {
    let store = &server.state.store;
    for (cam, latitude) in [("cam-a", 40.0), ("cam-b", 41.0)] {
        store
            .create_camera(&NewCamera {
                id: cam.into(),
                name: cam.into(),
                kind: CameraKind::Fixed,
                location: "Main St".into(),
                latitude: Some(latitude),
                longitude: Some(-75.0),
                direction: "northbound".into(),
                justification: "test".into(),
                approval: Approval::default(),
            })
            .await
            .unwrap();
        let reads = (0..3)
            .map(|i| NewRead {
                captured_at: now - 60_000 * (i + 1),
                confidence: 0.9,
                details: ReadDetails {
                    plate: if i < 2 {
                        "ABC1234".into()
                    } else {
                        "XYZ999".into()
                    },
                    ..Default::default()
                },
                image_id: None,
                hits: Vec::new(),
            })
            .collect();
        store
            .ingest_batch(
                &server.state.keys,
                &candor_server::retention::in_force(&server.state)
                    .await
                    .unwrap(),
                cam,
                &format!("batch-{cam}"),
                b"h",
                reads,
            )
            .await
            .unwrap();
    }
}

fn body(plate: &str, now: i64, purpose: Value) -> Value {
    json!({"plate": plate, "from": now - 86_400_000, "to": now + 1000, "purpose": purpose, "limit": 3})
}

fn good_purpose() -> Value {
    json!({"category": "property-crime", "case_number": "2026-000123", "free_text": "burglary on Elm St, vehicle seen leaving"})
}

#[tokio::test]
async fn full_plate_search_with_purpose_is_audited_and_paginated() {
    for server in TestServer::start_all().await {
        let now = candor_store::now_ms();
        seed_reads(&server, now).await;
        let ivy = server.create_user("ivy", "investigator").await;
        let s = server.session_for(&ivy).await;
        let search = |b: Value| {
            server
                .client
                .post(server.url("/api/v1/search/reads"))
                .bearer_auth(&s.token)
                .json(&b)
                .send()
        };

        let res = search(body("abc 1234", now, good_purpose())).await.unwrap();
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        let reads = answer["reads"].as_array().unwrap();
        assert_eq!(reads.len(), 3, "{answer}");
        assert!(reads.iter().all(|r| r["details"]["plate"] == "ABC1234"));
        let next = answer["next_cursor"].as_str().expect("a next-page cursor");
        let audit_seq = answer["audit_seq"].as_u64().unwrap();
        let record = &server
            .state
            .store
            .audit_records(audit_seq, 1)
            .await
            .unwrap()[0];
        assert_eq!(record.entry.action, "search.reads");
        assert_eq!(record.entry.details["results"], 3);
        assert_eq!(record.entry.details["query"]["kind"], "full");
        assert_eq!(
            record.entry.details["purpose"]["case_number"],
            "2026-000123"
        );
        assert_eq!(
            record.entry.details["policy_version"],
            answer["policy_version"]
        );

        let mut page2 = body("ABC1234", now, good_purpose());
        page2["cursor"] = json!(next);
        let answer: Value = search(page2).await.unwrap().json().await.unwrap();
        let rest = answer["reads"].as_array().unwrap();
        assert_eq!(rest.len(), 1, "four reads in all, none repeated");
        assert!(answer["next_cursor"].is_null());
        let first_ids: Vec<&Value> = reads.iter().map(|r| &r["id"]).collect();
        assert!(!first_ids.contains(&&rest[0]["id"]));

        let mut one_camera = body("ABC1234", now, good_purpose());
        one_camera["cameras"] = json!(["cam-b"]);
        let answer: Value = search(one_camera).await.unwrap().json().await.unwrap();
        assert!(
            answer["reads"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["camera_id"] == "cam-b")
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn forbidden_or_malformed_purposes_are_refused_with_the_reason() {
    for server in TestServer::start_all().await {
        let now = candor_store::now_ms();
        let ivy = server.create_user("ivy", "investigator").await;
        let s = server.session_for(&ivy).await;
        let cases = [
            (
                json!({"category": "immigration-enforcement", "case_number": "2026-000123", "free_text": "x"}),
                "not a permitted purpose",
            ),
            (
                json!({"category": "property-crime", "case_number": "ABC", "free_text": "burglary"}),
                "format",
            ),
            (
                json!({"category": "property-crime", "case_number": "2026-000123", "free_text": "going to the protest"}),
                "protest",
            ),
            (
                json!({"category": "property-crime", "case_number": "2026-000123", "free_text": ""}),
                "reason",
            ),
            (
                json!({"category": "property-crime", "case_number": "2026-000123", "free_text": " x "}),
                "at least 10 characters",
            ),
        ];
        for (purpose, says) in cases {
            let res = server
                .client
                .post(server.url("/api/v1/search/reads"))
                .bearer_auth(&s.token)
                .json(&body("ABC1234", now, purpose))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 422);
            let err: Value = res.json().await.unwrap();
            assert_eq!(err["error"]["code"], "purpose_denied");
            assert!(
                err["error"]["message"].as_str().unwrap().contains(says),
                "{err}"
            );
        }
        // A reason in a few words is searched, and goes to the review queue.
        let short = json!({"category": "property-crime", "case_number": "2026-000123", "free_text": "burglary Elm St"});
        let (status, answer) = post_search(
            &server,
            &s.token,
            "/api/v1/search/reads",
            &body("ABC1234", now, short),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer["review_reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("short_purpose")),
            "{answer}"
        );
        // A range longer than the policy allows.
        let mut long = body("ABC1234", now, good_purpose());
        long["from"] = json!(now - 90 * 86_400_000i64);
        let res = server
            .client
            .post(server.url("/api/v1/search/reads"))
            .bearer_auth(&s.token)
            .json(&long)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        // Every refusal is on record, with its reason, and nothing was looked up.
        let filter = candor_store::audit_log::AuditFilter {
            action_prefix: Some("search.reads".into()),
            target: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 100,
        };
        let refused: Vec<_> = server
            .state
            .store
            .search_audit(&filter)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.entry.outcome == candor_audit::Outcome::Denied)
            .collect();
        assert_eq!(refused.len(), 6, "five bad purposes and one long range");
        assert!(
            refused.iter().all(|r| r.entry.details["reason"].is_string()
                && r.entry.details.get("results").is_none())
        );
        // Officers may not search reads.
        let otto = server.create_user("otto", "officer").await;
        let o = server.session_for(&otto).await;
        let res = server
            .client
            .post(server.url("/api/v1/search/reads"))
            .bearer_auth(&o.token)
            .json(&body("ABC1234", now, good_purpose()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        server.stop().await;
    }
}

/// POSTs a search as `user` and returns status and body.
async fn post_search(server: &TestServer, token: &str, path: &str, b: &Value) -> (u16, Value) {
    let res = server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(b)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn plates(answer: &Value) -> Vec<String> {
    let mut p: Vec<String> = answer["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["details"]["plate"].as_str().unwrap().to_string())
        .collect();
    p.sort();
    p
}

#[tokio::test]
async fn wildcard_lookalike_and_area_searches() {
    for server in TestServer::start_all().await {
        let now = candor_store::now_ms();
        seed_reads(&server, now).await;
        let ivy = server.create_user("ivy", "investigator").await;
        let s = server.session_for(&ivy).await;
        let path = "/api/v1/search/reads";

        let mut wild = body("ab?1*", now, good_purpose());
        wild["limit"] = json!(50);
        let (status, answer) = post_search(&server, &s.token, path, &wild).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(plates(&answer), vec!["ABC1234"; 4]);
        assert!(
            answer["review_reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("partial_plate")),
            "{answer}"
        );
        let seq = answer["audit_seq"].as_u64().unwrap();
        let record = &server.state.store.audit_records(seq, 1).await.unwrap()[0];
        assert_eq!(record.entry.details["query"]["kind"], "partial");
        assert_eq!(record.entry.details["query"]["plate"], "AB?1*");

        // A partial search longer than the policy's partial cap (7 days) is refused.
        let mut long = wild.clone();
        long["from"] = json!(now - 8 * 86_400_000i64);
        let (status, err) = post_search(&server, &s.token, path, &long).await;
        assert_eq!(status, 422);
        assert_eq!(err["error"]["code"], "purpose_denied");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("partial"),
            "{err}"
        );

        // Look-alikes: A8C1234 is not stored, but 8 and B look alike (vendor defaults), so
        // with look-alikes on it finds ABC1234.
        let mut look = body("A8C1234", now, good_purpose());
        look["limit"] = json!(50);
        let (_, answer) = post_search(&server, &s.token, path, &look).await;
        assert!(plates(&answer).is_empty());
        look["lookalikes"] = json!(true);
        let (status, answer) = post_search(&server, &s.token, path, &look).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(plates(&answer), vec!["ABC1234"; 4]);

        // Area: a box around cam-a (latitude 40) only.
        let mut area = body("ABC1234", now, good_purpose());
        area["limit"] = json!(50);
        area["area"] = json!({"south": 39.5, "west": -75.5, "north": 40.5, "east": -74.5});
        let (status, answer) = post_search(&server, &s.token, path, &area).await;
        assert_eq!(status, 200, "{answer}");
        let reads = answer["reads"].as_array().unwrap();
        assert_eq!(reads.len(), 2);
        assert!(reads.iter().all(|r| r["camera_id"] == "cam-a"));

        // Bad input is named.
        let cases = [
            (json!({"plate": "AB%1"}), "invalid_plate"),
            (json!({"plate": "*?"}), "invalid_plate"),
            (json!({"cursor": "yesterday"}), "invalid_cursor"),
            (
                json!({"area": {"south": 41.0, "west": -75.5, "north": 40.0, "east": -74.5}}),
                "invalid_area",
            ),
            (
                json!({"area": {"south": 40.0, "west": -75.5, "north": 95.0, "east": -74.5}}),
                "invalid_area",
            ),
        ];
        for (change, code) in cases {
            let mut b = body("ABC1234", now, good_purpose());
            for (k, v) in change.as_object().unwrap() {
                b[k] = v.clone();
            }
            let (status, err) = post_search(&server, &s.token, path, &b).await;
            assert_eq!(
                (status, err["error"]["code"].as_str()),
                (422, Some(code)),
                "{err}"
            );
        }
        let mut unknown = body("ABC1234", now, good_purpose());
        unknown["plates"] = json!("ABC1234");
        let (status, err) = post_search(&server, &s.token, path, &unknown).await;
        assert_eq!(status, 400, "{err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains("plates"),
            "{err}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn hit_search_returns_hits_and_is_audited() {
    for server in TestServer::start_all().await {
        server
            .hot_list("stolen", "V", "plate,state,reason\nHOT4242,CA,stolen car\n")
            .await;
        let key = server.camera("cam-h").await;
        let reads = json!({"idempotency_key": "h1", "reads": [
            {"plate": "HOT4242", "confidence": 0.9, "captured_at": common::at(-5)},
            {"plate": "HOT4243", "confidence": 0.9, "captured_at": common::at(-4)}
        ]});
        let (status, b) = server.post_json("/api/v1/reads", &key, &reads).await;
        assert_eq!(status, 201, "{b}");
        let now = candor_store::now_ms();
        let ivy = server.create_user("ivy", "investigator").await;
        let s = server.session_for(&ivy).await;
        let (status, answer) = post_search(
            &server,
            &s.token,
            "/api/v1/search/hits",
            &body("HOT*", now, good_purpose()),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(plates(&answer), vec!["HOT4242"], "only the read that hit");
        let hits = answer["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0]["details"]["list_name"], "stolen");
        assert_eq!(hits[0]["read_id"], answer["reads"][0]["id"]);
        let seq = answer["audit_seq"].as_u64().unwrap();
        let record = &server.state.store.audit_records(seq, 1).await.unwrap()[0];
        assert_eq!(record.entry.action, "search.hits");
        assert_eq!(record.entry.details["results"], 1);

        // A read search of the same pattern finds both reads.
        let (_, answer) = post_search(
            &server,
            &s.token,
            "/api/v1/search/reads",
            &body("HOT*", now, good_purpose()),
        )
        .await;
        assert_eq!(plates(&answer), vec!["HOT4242", "HOT4243"]);
        assert!(answer.get("hits").is_none());

        let otto = server.create_user("otto", "officer").await;
        let o = server.session_for(&otto).await;
        let (status, _) = post_search(
            &server,
            &o.token,
            "/api/v1/search/hits",
            &body("HOT*", now, good_purpose()),
        )
        .await;
        assert_eq!(status, 403);
        server.stop().await;
    }
}

#[tokio::test]
async fn the_database_holds_no_plate_cleartext() {
    let server = TestServer::start(candor_store::testing::TestDb::sqlite().unwrap()).await;
    let now = candor_store::now_ms();
    seed_reads(&server, now).await;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(server.state.store.pool())
        .await
        .unwrap();
    let mut files = 0;
    for entry in walkdir(&server.db.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        for plate in ["ABC1234", "XYZ999"] {
            assert!(
                !bytes.windows(plate.len()).any(|w| w == plate.as_bytes()),
                "{} holds {plate} in clear",
                entry.display()
            );
        }
    }
    assert!(files >= 2, "the database and key files were read");
    server.stop().await;
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_search_may_ask_for_a_vehicle_colour_in_any_of_its_spellings() {
    for server in TestServer::start_all().await {
        let now = candor_store::now_ms();
        let store = &server.state.store;
        store
            .create_camera(&common::new_camera("cam-c", common::approval()))
            .await
            .unwrap();
        let reads = [Some("silver-gray"), Some("Grey"), Some("blue"), None]
            .into_iter()
            .enumerate()
            .map(|(i, colour)| NewRead {
                captured_at: now - 60_000 * (i as i64 + 1),
                confidence: 0.9,
                details: ReadDetails {
                    plate: "CLR1234".into(),
                    vehicle_color: colour.map(str::to_string),
                    ..Default::default()
                },
                image_id: None,
                hits: Vec::new(),
            })
            .collect();
        store
            .ingest_batch(
                &server.state.keys,
                &candor_server::retention::in_force(&server.state)
                    .await
                    .unwrap(),
                "cam-c",
                "batch-colours",
                b"h",
                reads,
            )
            .await
            .unwrap();
        let ivy = server.create_user("ivy", "investigator").await;
        let s = server.session_for(&ivy).await;
        let search = |colour: &str| {
            let mut b = body("CLR1234", now, good_purpose());
            b["limit"] = json!(10);
            b["vehicle_color"] = json!(colour);
            server
                .client
                .post(server.url("/api/v1/search/reads"))
                .bearer_auth(&s.token)
                .json(&b)
                .send()
        };
        for (colour, expected) in [
            ("grey", 2),
            ("Silver", 2),
            ("gray", 2),
            ("BLUE", 1),
            ("red", 0),
        ] {
            let res = search(colour).await.unwrap();
            assert_eq!(res.status(), 200, "{colour}");
            let answer: Value = res.json().await.unwrap();
            assert_eq!(
                answer["reads"].as_array().unwrap().len(),
                expected,
                "{colour}: {answer}"
            );
            let seq = answer["audit_seq"].as_u64().unwrap();
            let record = &store.audit_records(seq, 1).await.unwrap()[0];
            let named = candor_vision::VehicleColour::parse(colour)
                .unwrap()
                .as_str();
            assert_eq!(record.entry.details["query"]["vehicle_color"], named);
        }
        let res = search("chartreuse").await.unwrap();
        assert_eq!(res.status(), 422);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_vehicle_color", "{answer}");
        server.stop().await;
    }
}
