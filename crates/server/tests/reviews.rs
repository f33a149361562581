//! The review queue: flagged and sampled searches reach supervisors; each review is
//! audited and counted.

mod common;

use candor_server::routes::reviews::{SearchFacts, review_reasons};
use candor_store::reviews::SearchHistory;
use common::TestServer;
use serde_json::{Value, json};

fn facts(range_ms: i64, results: usize, partial: bool) -> SearchFacts {
    SearchFacts {
        audit_seq: 1,
        range_ms,
        results,
        partial,
        query_fingerprint: vec![1; 32],
        purpose_chars: 40,
    }
}

fn history(today: i64) -> SearchHistory {
    SearchHistory {
        today,
        partial_today: 0,
        same_query_week: 1,
        baseline_times: Vec::new(),
    }
}

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-20 14:00 UTC.
const NOW: i64 = 1_795_183_200_000;

#[test]
fn flags_follow_the_policy() {
    let policy = candor_policy::PolicyDocument::default_for_new_agency();
    let reasons = |f: SearchFacts, h: SearchHistory, sampled: bool| {
        review_reasons(&policy, &f, &h, sampled, NOW)
    };
    assert!(reasons(facts(DAY, 3, false), history(1), false).is_empty());
    assert_eq!(
        reasons(facts(DAY, 3, false), history(1), true),
        vec!["sample"]
    );
    assert_eq!(
        reasons(facts(20 * DAY, 3, false), history(1), false),
        vec!["long_range"]
    );
    assert_eq!(
        reasons(facts(DAY, 600, false), history(1), false),
        vec!["many_results"]
    );
    assert_eq!(
        reasons(facts(DAY, 3, false), history(51), false),
        vec!["many_queries_today"]
    );
    assert_eq!(
        reasons(facts(DAY, 3, true), history(1), false),
        vec!["partial_plate"]
    );
    // A purpose in a few words is allowed (the policy's floor is 10 characters) but read.
    let mut short = facts(DAY, 3, false);
    short.purpose_chars = 12;
    assert_eq!(reasons(short, history(1), false), vec!["short_purpose"]);
    let mut partials = history(11);
    partials.partial_today = 11;
    assert_eq!(
        reasons(facts(DAY, 3, true), partials, false),
        vec!["partial_plate", "many_partial_queries_today"]
    );
}

#[test]
fn the_same_plate_searched_repeatedly_is_flagged() {
    let policy = candor_policy::PolicyDocument::default_for_new_agency();
    // The policy allows 5 searches of one plate a week; the sixth is flagged.
    let mut h = history(5);
    h.same_query_week = 5;
    assert!(review_reasons(&policy, &facts(DAY, 3, false), &h, false, NOW).is_empty());
    h.same_query_week = 6;
    assert_eq!(
        review_reasons(&policy, &facts(DAY, 3, false), &h, false, NOW),
        vec!["repeated_plate"]
    );
}

#[test]
fn searches_outside_the_users_usual_pattern_are_flagged() {
    let policy = candor_policy::PolicyDocument::default_for_new_agency();
    // A user who searches around 14:00 UTC, one search a day for four weeks.
    let habit: Vec<i64> = (2..30).map(|d| NOW - d * DAY).collect();
    let mut h = history(1);
    h.baseline_times = habit.clone();
    let at =
        |t: i64, h: &SearchHistory| review_reasons(&policy, &facts(DAY, 3, false), h, false, t);
    assert!(at(NOW, &h).is_empty(), "the usual hour");
    assert!(at(NOW + HOUR, &h).is_empty(), "within an hour of it");
    assert_eq!(at(NOW + 10 * HOUR, &h), vec!["unusual_hour"], "at midnight");
    // Midnight is usual for a user whose searches are at midnight (the day wraps).
    let mut night = history(1);
    night.baseline_times = habit.iter().map(|t| t + 10 * HOUR + 30 * 60_000).collect();
    assert!(at(NOW + 10 * HOUR, &night).is_empty());
    // Too little history: nothing is unusual yet.
    let mut new_user = history(1);
    new_user.baseline_times = habit[..19].to_vec();
    assert!(at(NOW + 10 * HOUR, &new_user).is_empty());

    // Volume: the baseline is 1 a day; 10 in the last day is a spike, 3 is not.
    let mut busy = h.clone();
    busy.today = 10;
    assert_eq!(at(NOW, &busy), vec!["volume_spike"]);
    busy.today = 3;
    assert!(at(NOW, &busy).is_empty());
    // A user who always does 20 a day is not spiking at 20.
    let mut steady = history(20);
    steady.baseline_times = (0..28 * 20)
        .map(|i| NOW - 2 * DAY - (i / 20) * DAY - (i % 20) * 60_000)
        .collect();
    assert!(at(NOW, &steady).is_empty());
}

#[tokio::test]
async fn activity_history_counts_the_same_plate_and_keeps_no_plate() {
    for db in candor_store::testing::TestDb::all().await.unwrap() {
        let store = db.open().await.unwrap();
        let user = store
            .create_user(
                &candor_store::users::NewUser {
                    username: "ivy".into(),
                    display_name: "Ivy".into(),
                    role: "investigator".into(),
                    password_hash: "x".into(),
                    created_by: None,
                },
                NOW,
            )
            .await
            .unwrap()
            .id;
        let (a, b) = (vec![7u8; 32], vec![8u8; 32]);
        store
            .record_search_activity(user, NOW - 10 * DAY, &a, false)
            .await
            .unwrap();
        store
            .record_search_activity(user, NOW - 3 * DAY, &a, true)
            .await
            .unwrap();
        store
            .record_search_activity(user, NOW - HOUR, &b, false)
            .await
            .unwrap();
        let h = store
            .record_search_activity(user, NOW, &a, false)
            .await
            .unwrap();
        assert_eq!(h.today, 2);
        assert_eq!(h.partial_today, 0);
        assert_eq!(h.same_query_week, 2, "ten days ago is outside the week");
        assert_eq!(h.baseline_times, vec![NOW - 10 * DAY, NOW - 3 * DAY]);
        db.finish().await.unwrap();
    }
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
        // The console's queue shows what was searched for, and how.
        let page = server
            .client
            .get(server.url("/console/audit/reviews"))
            .header("cookie", format!("candor_session={}", s.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("full search for ABC1234, look-alikes off"),
            "{page}"
        );
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
