//! The audit log over HTTP: reading (itself audited), checkpoints on demand, verification,
//! and who may do it.

mod common;

use common::TestServer;
use serde_json::Value;

#[tokio::test]
async fn auditors_read_checkpoint_and_verify() {
    for server in TestServer::start_all().await {
        let auditor = server.create_user("audra", "auditor").await;
        let officer = server.create_user("otto", "officer").await;
        let a = server.session_for(&auditor).await;
        let o = server.session_for(&officer).await;

        let res = server
            .client
            .get(server.url("/api/v1/audit"))
            .bearer_auth(&o.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let res = server
            .client
            .post(server.url("/api/v1/audit/checkpoints"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let cp: Value = res.json().await.unwrap();
        assert!(
            cp["statement"].as_str().unwrap().contains("signature:"),
            "{cp}"
        );
        assert!(cp["length"].as_u64().unwrap() >= 1);

        let res = server
            .client
            .get(server.url("/api/v1/audit/checkpoints"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        let list: Value = res.json().await.unwrap();
        assert_eq!(list["public_key"].as_str().unwrap().len(), 64);
        assert_eq!(list["checkpoints"].as_array().unwrap().len(), 1);

        let res = server
            .client
            .get(server.url("/api/v1/audit/verify"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        let verdict: Value = res.json().await.unwrap();
        assert_eq!(verdict["intact"], true, "{verdict}");

        let res = server
            .client
            .get(server.url("/api/v1/audit?action=audit.&limit=5"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let records: Vec<Value> = res.json().await.unwrap();
        let actions: Vec<&str> = records
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["audit.verify", "audit.checkpoint"]);
        // The read just made is on record too.
        let last = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(last[0].entry.action, "audit.read");
        assert_eq!(last[0].entry.details["results"], 2);

        // Tampering shows up in the API's verification as well.
        sqlx::query("UPDATE audit_log SET target = 'x' WHERE seq = 0")
            .execute(server.state.store.pool())
            .await
            .unwrap();
        let res = server
            .client
            .get(server.url("/api/v1/audit/verify"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        let verdict: Value = res.json().await.unwrap();
        assert_eq!(
            (
                verdict["intact"].as_bool(),
                verdict["tampered_seq"].as_u64()
            ),
            (Some(false), Some(0)),
            "{verdict}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn interval_checkpoints_only_when_the_chain_grew() {
    for server in TestServer::start_all().await {
        let state = &server.state;
        assert!(
            candor_server::routes::audit::checkpoint_if_grown(state)
                .await
                .unwrap()
                .is_none(),
            "an empty chain gets no checkpoint"
        );
        candor_server::auth::append_audit_record(
            state,
            candor_audit::Actor::System {
                component: "test".into(),
            },
            "test.event",
            "t",
            "success",
            "test",
            Value::Null,
        )
        .await
        .unwrap();
        let first = candor_server::routes::audit::checkpoint_if_grown(state)
            .await
            .unwrap();
        assert!(first.is_some());
        assert!(
            candor_server::routes::audit::checkpoint_if_grown(state)
                .await
                .unwrap()
                .is_none(),
            "no growth, no new checkpoint"
        );
        // The chores loop signs on its own at its interval.
        let before = state.store.audit_checkpoints().await.unwrap().len();
        candor_server::auth::append_audit_record(
            state,
            candor_audit::Actor::System {
                component: "test".into(),
            },
            "test.event",
            "t",
            "success",
            "test",
            Value::Null,
        )
        .await
        .unwrap();
        let task = tokio::spawn(candor_server::routes::audit::audit_chores(
            state.clone(),
            std::time::Duration::from_millis(50),
        ));
        let mut grown = false;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if state.store.audit_checkpoints().await.unwrap().len() > before {
                grown = true;
                break;
            }
        }
        task.abort();
        assert!(grown, "the interval task signed a checkpoint");
        server.stop().await;
    }
}

/// A plate search is under a signed checkpoint within a minute, long before the interval
/// (15 minutes by default); a second search right after it does not get a checkpoint of
/// its own at once: access-driven checkpoints are spaced, so busy hours cause no storm.
#[tokio::test]
async fn a_plate_search_is_under_a_checkpoint_within_a_minute() {
    use std::time::{Duration, Instant};
    for server in TestServer::start_all().await {
        let ivy = server.create_user("ivy", "investigator").await;
        let s = server.session_for(&ivy).await;
        let search = |case: &'static str| {
            let now = candor_store::now_ms();
            let body = serde_json::json!({
                "plate": "ABC1234", "from": now - 86_400_000, "to": now + 1000, "limit": 3,
                "purpose": {"category": "property-crime", "case_number": case,
                            "free_text": "burglary on Elm St, vehicle seen leaving"},
            });
            server
                .client
                .post(server.url("/api/v1/search/reads"))
                .bearer_auth(&s.token)
                .json(&body)
                .send()
        };
        let res = search("2026-000123").await.unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let searched = |state: &candor_server::AppState| {
            let state = state.clone();
            async move {
                let filter = candor_store::audit_log::AuditFilter {
                    action_prefix: Some("search.reads".into()),
                    limit: 1,
                    ..Default::default()
                };
                state.store.search_audit(&filter).await.unwrap()[0].seq
            }
        };
        let first = searched(&server.state).await;
        let checkpoints = || async { server.state.store.audit_checkpoints().await.unwrap() };
        let started = Instant::now();
        let covered = loop {
            if checkpoints().await.last().is_some_and(|c| c.length > first) {
                break started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no checkpoint covers the search (record {first}) a minute after it"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(covered < Duration::from_secs(15), "took {covered:?}");

        let signed = checkpoints().await.len();
        let res = search("2026-000124").await.unwrap();
        assert_eq!(res.status(), 200);
        let second = searched(&server.state).await;
        assert!(second > first);
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(
            checkpoints().await.len(),
            signed,
            "a checkpoint signed within seconds of the last one"
        );
        server.stop().await;
    }
}
