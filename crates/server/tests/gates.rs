//! Access gates: training certificates and program-manager grants in front of plate data,
//! the policy acknowledgement in front of everything, and the idle-account lapse.

mod common;

use candor_server::auth::{Actor, Permission, Role};
use common::TestServer;
use serde_json::{Value, json};

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn actor(role: Role, training_expires: Option<i64>, access_granted: bool) -> Actor {
    Actor {
        user_id: 1,
        username: "ivy".into(),
        role,
        csrf_token: String::new(),
        remote_addr: "127.0.0.1".into(),
        policy_version: 1,
        training_expires,
        access_granted,
    }
}

#[test]
fn plate_data_needs_current_training_and_a_grant() {
    let now = candor_store::now_ms();
    let code = |a: &Actor, p| a.require(p).err().map(|e| e.code);
    let ok = actor(Role::Investigator, Some(now + 60_000), true);
    assert_eq!(code(&ok, Permission::SearchReads), None);
    let never = actor(Role::Investigator, None, true);
    assert_eq!(
        code(&never, Permission::SearchReads).as_deref(),
        Some("training_missing")
    );
    let expired = actor(Role::Investigator, Some(now - 1), true);
    assert_eq!(
        code(&expired, Permission::SearchReads).as_deref(),
        Some("training_expired")
    );
    let ungranted = actor(Role::Investigator, Some(now + 60_000), false);
    assert_eq!(
        code(&ungranted, Permission::SearchReads).as_deref(),
        Some("access_not_granted")
    );
    // Permissions that show no plate data need neither.
    let auditor = actor(Role::Auditor, None, false);
    assert_eq!(code(&auditor, Permission::ReadAudit), None);
    // And the role still decides first.
    assert_eq!(
        code(&auditor, Permission::SearchReads).as_deref(),
        Some("forbidden")
    );
}

#[tokio::test]
async fn program_managers_record_training_and_grant_access() {
    for server in TestServer::start_all().await {
        let pm = server.create_user("pam", "program_manager").await;
        let admin = server.create_user("ada", "administrator").await;
        let ivy = server.create_bare_user("ivy", "investigator").await;
        let pm_s = server.session_for(&pm).await;
        let admin_s = server.session_for(&admin).await;
        let grant = |token: String| {
            let url = server.url(&format!("/api/v1/users/{}/access", ivy.id));
            let client = server.client.clone();
            async move { client.post(url).bearer_auth(token).send().await.unwrap() }
        };
        // Not without a training certificate, and never by an administrator.
        assert_eq!(
            error_code(grant(pm_s.token.clone()).await).await,
            (422, "training_required".into())
        );
        assert_eq!(
            error_code(grant(admin_s.token.clone()).await).await,
            (403, "forbidden".into())
        );
        let res = server
            .client
            .post(server.url(&format!("/api/v1/users/{}/training", ivy.id)))
            .bearer_auth(&pm_s.token)
            .json(&json!({"course": "ALPR policy and use", "completed_on": "2026-11-01"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let cert: Value = res.json().await.unwrap();
        assert_eq!(cert["recorded_by"], pm.id);
        assert!(cert["expires_at"].as_i64().unwrap() > cert["completed_at"].as_i64().unwrap());
        // The program manager asks; an administrator approves (separation of duties).
        let res = grant(pm_s.token.clone()).await;
        assert_eq!(res.status(), 202);
        let request: Value = res.json().await.unwrap();
        let res = server
            .client
            .post(server.url(&format!("/api/v1/approvals/{}/approve", request["id"])))
            .bearer_auth(&admin_s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let stored = server
            .state
            .store
            .user_by_id(ivy.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.access_granted_by, Some(pm.id));
        let bad = server
            .client
            .post(server.url(&format!("/api/v1/users/{}/training", ivy.id)))
            .bearer_auth(&pm_s.token)
            .json(&json!({"course": "x", "completed_on": "yesterday"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(bad).await, (422, "invalid_date".into()));
        let actions: Vec<String> = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                target: Some(format!("user:{}", ivy.id)),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.entry.action)
            .collect();
        assert_eq!(
            actions,
            vec!["access.grant", "approval.request", "training.record"]
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_new_policy_version_must_be_acknowledged_before_anything_else() {
    for server in TestServer::start_all().await {
        let pm = server.create_user("pam", "program_manager").await;
        let auditor = server.create_user("audra", "auditor").await;
        let pm_s = server.session_for(&pm).await;
        let a_s = server.session_for(&auditor).await;
        let audit_list = || {
            server
                .client
                .get(server.url("/api/v1/audit"))
                .bearer_auth(&a_s.token)
                .send()
        };
        assert_eq!(audit_list().await.unwrap().status(), 200);

        let res = server
            .client
            .get(server.url("/api/v1/policy"))
            .bearer_auth(&pm_s.token)
            .send()
            .await
            .unwrap();
        let mut doc: Value = res.json::<Value>().await.unwrap()["document"].clone();
        doc["statement_of_purpose"] = json!("Investigations and public safety only.");
        doc["retention"]["non_hit_reads"] = json!("14 days");
        let res = server
            .client
            .put(server.url("/api/v1/policy"))
            .bearer_auth(&a_s.token)
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "forbidden".into()));
        let res = server
            .client
            .put(server.url("/api/v1/policy"))
            .bearer_auth(&pm_s.token)
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let published: Value = res.json().await.unwrap();
        assert_eq!(published["version"], 2);

        // Everyone, the author included, must acknowledge version 2 first.
        assert_eq!(
            error_code(audit_list().await.unwrap()).await,
            (403, "policy_ack_required".into())
        );
        let res = server
            .client
            .get(server.url("/api/v1/policy/versions"))
            .bearer_auth(&pm_s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "policy_ack_required".into()));
        // The console's acknowledgement page shows what changed since the version accepted.
        let page = server
            .client
            .get(server.url("/login/policy"))
            .header("cookie", format!("candor_session={}", a_s.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("What changed since version 1, which you accepted"),
            "{page}"
        );
        assert!(
            page.contains(
                "<code>retention.non_hit_reads</code></td><td>21 days</td><td>14 days</td>"
            ),
            "{page}"
        );
        assert!(
            page.contains("Investigations and public safety only."),
            "{page}"
        );
        assert!(!page.contains("review.sample_rate"), "{page}");
        let res = server
            .client
            .post(server.url("/api/v1/policy/acknowledge"))
            .bearer_auth(&a_s.token)
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (409, "policy_changed".into()));
        let res = server
            .client
            .post(server.url("/api/v1/policy/acknowledge"))
            .bearer_auth(&a_s.token)
            .json(&json!({"version": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(audit_list().await.unwrap().status(), 200);

        // An invalid document is refused with the reason.
        doc["review"]["sample_rate"] = json!(3.5);
        let res = server
            .client
            .put(server.url("/api/v1/policy"))
            .bearer_auth(&pm_s.token)
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await.1, "policy_ack_required");
        server.acknowledge_policy(&pm).await;
        let res = server
            .client
            .put(server.url("/api/v1/policy"))
            .bearer_auth(&pm_s.token)
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (422, "invalid_policy".into()));
        server.stop().await;
    }
}

#[tokio::test]
async fn idle_accounts_lapse_until_reactivated() {
    for server in TestServer::start_all().await {
        let admin = server.create_user("ada", "administrator").await;
        let auditor = server.create_user("audra", "auditor").await;
        let admin_s = server.session_for(&admin).await;
        let a_s = server.session_for(&auditor).await;
        let policy = candor_server::routes::policy::policy_in_force(&server.state)
            .await
            .unwrap();
        let limit = i64::try_from(policy.document.idle_account_limit.as_millis()).unwrap();
        sqlx::query("UPDATE users SET last_active_at = $1 WHERE id = $2")
            .bind(candor_store::now_ms() - limit - 1000)
            .bind(auditor.id)
            .execute(server.state.store.pool())
            .await
            .unwrap();
        let res = server
            .client
            .get(server.url("/api/v1/audit"))
            .bearer_auth(&a_s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "account_idle".into()));
        // Signing in does not revive it either.
        let res = server
            .client
            .post(server.url("/api/v1/session"))
            .json(&json!({"username": "audra", "password": auditor.password, "totp_code": auditor.totp_code(0)}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "account_idle".into()));
        let res = server
            .client
            .post(server.url(&format!("/api/v1/users/{}/reactivate", auditor.id)))
            .bearer_auth(&admin_s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let res = server
            .client
            .get(server.url("/api/v1/audit"))
            .bearer_auth(&a_s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        server.stop().await;
    }
}
