//! The review queue: flagged and sampled searches reach supervisors; each review is
//! audited and counted.

mod common;

use candor_server::routes::reviews::review_reasons;
use common::TestServer;
use serde_json::{Value, json};

#[test]
fn flags_follow_the_policy() {
    let policy = candor_policy::PolicyDocument::default_for_new_agency();
    let day = 86_400_000;
    assert!(review_reasons(&policy, day, 3, 1, false).is_empty());
    assert_eq!(review_reasons(&policy, day, 3, 1, true), vec!["sample"]);
    assert_eq!(
        review_reasons(&policy, 20 * day, 3, 1, false),
        vec!["long_range"]
    );
    assert_eq!(
        review_reasons(&policy, day, 600, 1, false),
        vec!["many_results"]
    );
    assert_eq!(
        review_reasons(&policy, day, 3, 51, false),
        vec!["many_queries_today"]
    );
}

#[tokio::test]
async fn supervisors_review_flagged_searches() {
    for server in TestServer::start_all().await {
        let now = candor_store::now_ms();
        let ivy = server.create_user("ivy", "investigator").await;
        let sam = server.create_user("sam", "supervisor").await;
        let i = server.session_for(&ivy).await;
        let s = server.session_for(&sam).await;
        // A 20-day search: longer than half the policy's 30-day maximum, so flagged.
        let res = server
            .client
            .post(server.url("/api/v1/search/reads"))
            .bearer_auth(&i.token)
            .json(&json!({
                "plate": "ABC1234", "from": now - 20 * 86_400_000i64, "to": now,
                "purpose": {"category": "property-crime", "case_number": "2026-000777", "free_text": "stolen catalytic converters"}
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let audit_seq = res.json::<Value>().await.unwrap()["audit_seq"]
            .as_u64()
            .unwrap();

        let res = server
            .client
            .get(server.url("/api/v1/reviews"))
            .bearer_auth(&i.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let queue: Value = server
            .client
            .get(server.url("/api/v1/reviews"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(queue["pending"], 1, "{queue}");
        let item = &queue["items"][0];
        assert!(
            item["reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("long_range")),
            "{item}"
        );
        assert_eq!(item["search"]["seq"], audit_seq);
        assert_eq!(
            item["search"]["details"]["purpose"]["case_number"],
            "2026-000777"
        );
        let id = item["id"].as_i64().unwrap();

        let review = |b: Value| {
            server
                .client
                .post(server.url(&format!("/api/v1/reviews/{id}")))
                .bearer_auth(&s.token)
                .json(&b)
                .send()
        };
        let res = review(json!({"verdict": "concern", "note": " "}))
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let res = review(json!({"verdict": "fine", "note": ""}))
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let res = review(json!({"verdict": "approved", "note": "case file matches"}))
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let res = review(json!({"verdict": "concern", "note": "second thoughts"}))
            .await
            .unwrap();
        assert_eq!(res.status(), 409);

        let queue: Value = server
            .client
            .get(server.url("/api/v1/reviews?status=reviewed"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (queue["pending"].as_i64(), queue["approved"].as_i64()),
            (Some(0), Some(1))
        );
        assert_eq!(queue["items"][0]["verdict"], "approved");
        let last = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                action_prefix: Some("review.".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(last[0].entry.details["verdict"], "approved");
        assert_eq!(last[0].entry.target, format!("audit:{audit_seq}"));
        server.stop().await;
    }
}
