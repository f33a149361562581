//! Separation of duties (issue 27, item 4): nobody certifies or grants themselves, and a
//! change that opens plate data to a person takes two people, one administrator and one
//! program manager, each named in the audit log.

mod common;

use common::{TestServer, TestSession};
use serde_json::{Value, json};

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post(server: &TestServer, s: &TestSession, path: &str, body: Value) -> (u16, Value) {
    answer(
        server
            .client
            .post(server.url(path))
            .bearer_auth(&s.token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn actions_about(server: &TestServer, target: &str) -> Vec<(String, Value)> {
    let mut records = server
        .state
        .store
        .search_audit(&candor_store::audit_log::AuditFilter {
            target: Some(target.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    records.reverse();
    records
        .into_iter()
        .map(|r| (r.entry.action, r.entry.details))
        .collect()
}

#[tokio::test]
async fn nobody_certifies_or_grants_themselves() {
    for server in TestServer::start_all().await {
        let pm = server.create_bare_user("pam", "program_manager").await;
        server.acknowledge_policy(&pm).await;
        let s = server.session_for(&pm).await;
        let training = format!("/api/v1/users/{}/training", pm.id);
        let body = json!({"course": "ALPR policy and use", "completed_on": "2026-11-01"});
        let (status, v) = post(&server, &s, &training, body).await;
        assert_eq!((status, code(&v)), (403, "separation_of_duties"), "{v}");
        let (status, v) = post(
            &server,
            &s,
            &format!("/api/v1/users/{}/access", pm.id),
            json!({}),
        )
        .await;
        assert_eq!((status, code(&v)), (403, "separation_of_duties"), "{v}");
        assert!(
            server
                .state
                .store
                .training_expiry(pm.id)
                .await
                .unwrap()
                .is_none()
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_grant_takes_a_program_manager_and_an_administrator() {
    for server in TestServer::start_all().await {
        let pm = server.create_user("pam", "program_manager").await;
        let pm2 = server.create_user("pia", "program_manager").await;
        let admin = server.create_user("ada", "administrator").await;
        let ivy = server.create_bare_user("ivy", "investigator").await;
        server.acknowledge_policy(&ivy).await;
        let (pm_s, pm2_s, admin_s) = (
            server.session_for(&pm).await,
            server.session_for(&pm2).await,
            server.session_for(&admin).await,
        );
        let body = json!({"course": "ALPR policy and use", "completed_on": "2026-11-01"});
        let (status, _) = post(
            &server,
            &pm_s,
            &format!("/api/v1/users/{}/training", ivy.id),
            body,
        )
        .await;
        assert_eq!(status, 201);

        // The program manager asks; nothing is granted yet.
        let (status, req) = post(
            &server,
            &pm_s,
            &format!("/api/v1/users/{}/access", ivy.id),
            json!({}),
        )
        .await;
        assert_eq!(status, 202, "{req}");
        assert_eq!(req["status"], "pending");
        assert_eq!(req["kind"], "access.grant");
        let id = req["id"].as_i64().unwrap();
        let stored = server
            .state
            .store
            .user_by_id(ivy.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.access_granted_at, None);

        // Not by the one who asked, nor by another program manager.
        let approve = format!("/api/v1/approvals/{id}/approve");
        let (status, v) = post(&server, &pm_s, &approve, json!({})).await;
        assert_eq!((status, code(&v)), (403, "separation_of_duties"), "{v}");
        let (status, v) = post(&server, &pm2_s, &approve, json!({})).await;
        assert_eq!((status, code(&v)), (403, "separation_of_duties"), "{v}");

        // The administrator sees it and approves it; access starts now, once.
        let list: Value = server
            .client
            .get(server.url("/api/v1/approvals"))
            .bearer_auth(&admin_s.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(list[0].get("payload").is_none());
        let (status, v) = post(&server, &admin_s, &approve, json!({})).await;
        assert_eq!(
            (status, v["status"].as_str()),
            (200, Some("approved")),
            "{v}"
        );
        let stored = server
            .state
            .store
            .user_by_id(ivy.id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.access_granted_at.is_some());
        assert_eq!(stored.access_granted_by, Some(pm.id));
        let (status, v) = post(&server, &admin_s, &approve, json!({})).await;
        assert_eq!((status, code(&v)), (409, "request_closed"));

        // The audit log names both people.
        let actions = actions_about(&server, &format!("user:{}", ivy.id)).await;
        let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            names,
            ["training.record", "approval.request", "access.grant"]
        );
        let grant = &actions[2].1;
        assert_eq!(
            (
                grant["requested_by"].as_i64(),
                grant["approved_by"].as_i64()
            ),
            (Some(pm.id), Some(admin.id))
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_credentials_reset_of_someone_with_access_takes_a_program_manager() {
    for server in TestServer::start_all().await {
        let pm = server.create_user("pam", "program_manager").await;
        let admin = server.create_user("ada", "administrator").await;
        let admin2 = server.create_user("abe", "administrator").await;
        let ivy = server.create_user("ivy", "investigator").await;
        let auditor = server.create_user("audra", "auditor").await;
        let (pm_s, admin_s, admin2_s) = (
            server.session_for(&pm).await,
            server.session_for(&admin).await,
            server.session_for(&admin2).await,
        );
        let before = server
            .state
            .store
            .user_by_id(ivy.id)
            .await
            .unwrap()
            .unwrap();
        let new_password = json!({"password": "a brand new passphrase of hers"});
        let (status, req) = post(
            &server,
            &admin_s,
            &format!("/api/v1/users/{}/password", ivy.id),
            new_password,
        )
        .await;
        assert_eq!(status, 202, "{req}");
        assert_eq!(req["approver"], "a program manager");
        let after = server
            .state
            .store
            .user_by_id(ivy.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            after.password_hash, before.password_hash,
            "nothing changes before approval"
        );
        let approve = format!("/api/v1/approvals/{}/approve", req["id"]);
        let (status, v) = post(&server, &admin2_s, &approve, json!({})).await;
        assert_eq!((status, code(&v)), (403, "separation_of_duties"));
        let (status, _) = post(&server, &pm_s, &approve, json!({})).await;
        assert_eq!(status, 200);
        let after = server
            .state
            .store
            .user_by_id(ivy.id)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(after.password_hash, before.password_hash);

        // The authenticator too; a rejection changes nothing.
        let (status, req) = post(
            &server,
            &admin_s,
            &format!("/api/v1/users/{}/mfa-reset", ivy.id),
            json!({}),
        )
        .await;
        assert_eq!(status, 202);
        let (status, v) = post(
            &server,
            &pm_s,
            &format!("/api/v1/approvals/{}/reject", req["id"]),
            json!({}),
        )
        .await;
        assert_eq!((status, v["status"].as_str()), (200, Some("rejected")));
        assert!(
            server
                .state
                .store
                .user_by_id(ivy.id)
                .await
                .unwrap()
                .unwrap()
                .totp_enabled
        );

        // Someone without plate data: one administrator is enough.
        let (status, _) = post(
            &server,
            &admin_s,
            &format!("/api/v1/users/{}/mfa-reset", auditor.id),
            json!({}),
        )
        .await;
        assert_eq!(status, 204);
        let actions = actions_about(&server, &format!("user:{}", ivy.id)).await;
        let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
        assert!(
            names.ends_with(&[
                "approval.request",
                "user.password_reset",
                "approval.request",
                "approval.reject"
            ]),
            "{names:?}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_program_manager_account_and_a_plate_role_take_two_people() {
    for server in TestServer::start_all().await {
        let admin = server.create_user("ada", "administrator").await;
        let admin_s = server.session_for(&admin).await;
        let pm_body = |name: &str| json!({"username": name, "display_name": name, "role": "program_manager", "password": "program manager passphrase"});
        // The first program manager: nobody could approve, so the administrator alone, on record.
        let (status, first) = post(&server, &admin_s, "/api/v1/users", pm_body("pat")).await;
        assert_eq!(status, 201, "{first}");
        let pat_id = first["id"].as_i64().unwrap();
        let created = actions_about(&server, &format!("user:{pat_id}")).await;
        assert_eq!(created[0].1["first_program_manager"], true);
        // The second needs the first's approval.
        let (status, req) = post(&server, &admin_s, "/api/v1/users", pm_body("pia")).await;
        assert_eq!(status, 202, "{req}");
        assert!(
            server
                .state
                .store
                .user_by_username("pia")
                .await
                .unwrap()
                .is_none()
        );
        let pm = server.create_user("pam", "program_manager").await;
        let pm_s = server.session_for(&pm).await;
        let (status, _) = post(
            &server,
            &pm_s,
            &format!("/api/v1/approvals/{}/approve", req["id"]),
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        let pia = server
            .state
            .store
            .user_by_username("pia")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (pia.role.as_str(), pia.created_by),
            ("program_manager", Some(admin.id))
        );

        // A role with plate data, from a program manager, waits for an administrator.
        let otto = server.create_user("otto", "auditor").await;
        let res = server
            .client
            .patch(server.url(&format!("/api/v1/users/{}", otto.id)))
            .bearer_auth(&pm_s.token)
            .json(&json!({"role": "investigator"}))
            .send()
            .await
            .unwrap();
        let (status, req) = answer(res).await;
        assert_eq!(status, 202, "{req}");
        assert_eq!(
            server
                .state
                .store
                .user_by_id(otto.id)
                .await
                .unwrap()
                .unwrap()
                .role,
            "auditor"
        );
        let (status, _) = post(
            &server,
            &admin_s,
            &format!("/api/v1/approvals/{}/approve", req["id"]),
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            server
                .state
                .store
                .user_by_id(otto.id)
                .await
                .unwrap()
                .unwrap()
                .role,
            "investigator"
        );
        server.stop().await;
    }
}
