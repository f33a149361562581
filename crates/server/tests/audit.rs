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
