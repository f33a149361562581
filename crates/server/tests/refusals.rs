//! Refused actions (issue 27, item 8): a 403 leaves an audit record, grouped so that
//! repeats do not each add one.

mod common;

use common::TestServer;

async fn refusal_records(server: &TestServer) -> Vec<candor_audit::AuditEntry> {
    server
        .state
        .store
        .search_audit(&candor_store::audit_log::AuditFilter {
            action_prefix: Some("access.refused".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry)
        .collect()
}

#[tokio::test]
async fn a_refusal_is_recorded_once_per_window_with_who_where_and_why() {
    for server in TestServer::start_all().await {
        let officer = server.create_user("otto", "officer").await;
        let s = server.session_for(&officer).await;
        for _ in 0..5 {
            let res = server
                .client
                .get(server.url("/api/v1/audit"))
                .bearer_auth(&s.token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403);
        }
        let records = refusal_records(&server).await;
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(r.outcome, candor_audit::Outcome::Denied);
        assert_eq!(r.target, "route:GET /api/v1/audit");
        assert_eq!(r.details["code"], "forbidden");
        assert_eq!(
            r.actor,
            candor_audit::Actor::User {
                id: officer.id.to_string(),
                name: "otto".into()
            }
        );
        // Another route is another kind of refusal.
        let res = server
            .client
            .get(server.url("/api/v1/cameras"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert_eq!(refusal_records(&server).await.len(), 2);
        // A success leaves no refusal record.
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(refusal_records(&server).await.len(), 2);
        server.stop().await;
    }
}
