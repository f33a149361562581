//! Purpose-bound search: a purpose the policy allows, within its limits, audited before any
//! result is returned; refused purposes say why.

mod common;

use candor_store::cameras::{Approval, CameraKind, NewCamera};
use candor_store::reads::{NewRead, ReadDetails};
use common::TestServer;
use serde_json::{Value, json};

async fn seed_reads(server: &TestServer, now: i64) {
    let store = &server.state.store;
    for cam in ["cam-a", "cam-b"] {
        store
            .create_camera(&NewCamera {
                id: cam.into(),
                name: cam.into(),
                kind: CameraKind::Fixed,
                location: "Main St".into(),
                latitude: None,
                longitude: None,
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
                &server.state.retention,
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
        // Limit 3, but the page ends between capture times: both reads at the third time.
        assert_eq!(reads.len(), 4, "{answer}");
        assert!(reads.iter().all(|r| r["details"]["plate"] == "ABC1234"));
        let next = answer["next_before"].as_i64().expect("a next-page cursor");
        let audit_seq = answer["audit_seq"].as_u64().unwrap();
        let record = &server
            .state
            .store
            .audit_records(audit_seq, 1)
            .await
            .unwrap()[0];
        assert_eq!(record.entry.action, "search.reads");
        assert_eq!(record.entry.details["results"], 4);
        assert_eq!(
            record.entry.details["purpose"]["case_number"],
            "2026-000123"
        );
        assert_eq!(
            record.entry.details["policy_version"],
            answer["policy_version"]
        );

        let mut page2 = body("ABC1234", now, good_purpose());
        page2["before"] = json!(next);
        let answer: Value = search(page2).await.unwrap().json().await.unwrap();
        assert_eq!(
            answer["reads"].as_array().unwrap().len(),
            0,
            "nothing is repeated"
        );
        assert!(answer["next_before"].is_null());

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
