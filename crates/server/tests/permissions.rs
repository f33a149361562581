//! The permission matrix, end to end: every API route × every role, and the special states
//! (no session, expired training certificate, unacknowledged policy, account locked from
//! the caller's address), each against its documented answer.
//!
//! The routes are enumerated from the served OpenAPI document, and the test fails when the
//! document has a route that [`EXPECTED`] does not list (or the other way round): a new
//! route cannot escape it. Add each new route to [`EXPECTED`] with the permission its
//! handler requires.
//!
//! Documented answers:
//! - public routes answer without a session (never 401/403);
//! - every other route answers 401 `unauthenticated` without a session and 403
//!   `account_locked` for an account locked from the caller's address;
//! - routes for any signed-in session (the sign-in flow, reading and acknowledging the
//!   policy) work without the policy acknowledged;
//! - all other routes answer 403 `policy_ack_required` until the policy in force is
//!   acknowledged, then 403 `forbidden` for a role without the permission, and 403
//!   `training_expired` when the permission exposes plate data and the training certificate
//!   has expired;
//! - approving a request waiting for a second person may also answer 403
//!   `separation_of_duties` (the person started it, or it is about them);
//! - partner endpoints (`/federation/v1/…`) answer 401 `unsigned_request` to anything but a
//!   request signed by a partner instance, whatever session it carries.

mod common;

use candor_server::auth::{Permission, Role};
use common::{TestServer, TestUser};
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy)]
enum Access {
    /// No session needed.
    Public,
    /// Any signed-in session (any sign-in stage, policy not yet acknowledged).
    Session,
    /// A fully signed-in user with the policy acknowledged; no particular permission.
    SignedIn,
    /// As `SignedIn`, plus any one of these permissions.
    AnyOf(&'static [Permission]),
    /// Machine clients: a camera's API key, never a user session.
    Camera,
    /// Partner instances: a request signed under a sharing agreement, never a session.
    Partner,
}

use Access::*;
use Permission as P;

const EXPECTED: &[(&str, &str, Access)] = &[
    ("GET", "/health", Public),
    ("GET", "/api/openapi.json", Public),
    ("POST", "/api/v1/session", Public),
    ("GET", "/api/v1/session", Session),
    ("DELETE", "/api/v1/session", Session),
    ("POST", "/api/v1/session/totp", Session),
    ("POST", "/api/v1/session/totp/confirm", Session),
    ("POST", "/api/v1/session/password", SignedIn),
    ("GET", "/api/v1/policy", Session),
    ("POST", "/api/v1/policy/acknowledge", Session),
    ("PUT", "/api/v1/policy", AnyOf(&[P::ManagePolicy])),
    (
        "GET",
        "/api/v1/policy/versions",
        AnyOf(&[P::ManagePolicy, P::ReadAudit]),
    ),
    (
        "GET",
        "/api/v1/users",
        AnyOf(&[P::ManageUsers, P::GrantAccess]),
    ),
    ("POST", "/api/v1/users", AnyOf(&[P::ManageUsers])),
    ("PATCH", "/api/v1/users/{id}", AnyOf(&[P::ManageUsers])),
    (
        "POST",
        "/api/v1/users/{id}/unlock",
        AnyOf(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/api/v1/users/{id}/mfa-reset",
        AnyOf(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/api/v1/users/{id}/password",
        AnyOf(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/api/v1/users/{id}/reactivate",
        AnyOf(&[P::ManageUsers]),
    ),
    (
        "GET",
        "/api/v1/users/{id}/training",
        AnyOf(&[P::GrantAccess, P::ManageUsers]),
    ),
    (
        "POST",
        "/api/v1/users/{id}/training",
        AnyOf(&[P::GrantAccess]),
    ),
    (
        "POST",
        "/api/v1/users/{id}/access",
        AnyOf(&[P::GrantAccess]),
    ),
    (
        "DELETE",
        "/api/v1/users/{id}/access",
        AnyOf(&[P::GrantAccess]),
    ),
    (
        "GET",
        "/api/v1/approvals",
        AnyOf(&[P::ManageUsers, P::GrantAccess]),
    ),
    (
        "POST",
        "/api/v1/approvals/{id}/approve",
        AnyOf(&[P::ManageUsers, P::GrantAccess]),
    ),
    (
        "POST",
        "/api/v1/approvals/{id}/reject",
        AnyOf(&[P::ManageUsers, P::GrantAccess]),
    ),
    ("GET", "/api/v1/audit", AnyOf(&[P::ReadAudit])),
    ("GET", "/api/v1/audit/checkpoints", AnyOf(&[P::ReadAudit])),
    ("POST", "/api/v1/audit/checkpoints", AnyOf(&[P::ReadAudit])),
    ("GET", "/api/v1/audit/verify", AnyOf(&[P::ReadAudit])),
    ("POST", "/api/v1/search/reads", AnyOf(&[P::SearchReads])),
    ("POST", "/api/v1/search/hits", AnyOf(&[P::SearchHits])),
    ("GET", "/api/v1/reviews", AnyOf(&[P::ReviewQueries])),
    ("POST", "/api/v1/reviews/{id}", AnyOf(&[P::ReviewQueries])),
    ("POST", "/api/v1/reads", Camera),
    ("POST", "/api/v1/openalpr", Camera),
    ("POST", "/api/v1/cameras/{id}/images", Camera),
    ("GET", "/api/v1/cameras", AnyOf(&[P::ManageCameras])),
    ("POST", "/api/v1/cameras", AnyOf(&[P::ManageCameras])),
    ("GET", "/api/v1/cameras/{id}", AnyOf(&[P::ManageCameras])),
    ("PATCH", "/api/v1/cameras/{id}", AnyOf(&[P::ManageCameras])),
    (
        "POST",
        "/api/v1/cameras/{id}/rotate-key",
        AnyOf(&[P::ManageCameras]),
    ),
    (
        "GET",
        "/api/v1/cameras/{id}/stream",
        AnyOf(&[P::ManageCameras]),
    ),
    (
        "PUT",
        "/api/v1/cameras/{id}/stream",
        AnyOf(&[P::ManageCameras]),
    ),
    (
        "DELETE",
        "/api/v1/cameras/{id}/stream",
        AnyOf(&[P::ManageCameras]),
    ),
    ("GET", "/api/v1/hotlists", AnyOf(&[P::ManageHotLists])),
    (
        "POST",
        "/api/v1/hotlists/import",
        AnyOf(&[P::ManageHotLists]),
    ),
    (
        "DELETE",
        "/api/v1/hotlists/{id}",
        AnyOf(&[P::ManageHotLists]),
    ),
    (
        "GET",
        "/api/v1/hotplates",
        AnyOf(&[P::EnterUserHotPlates, P::ApproveUserHotPlates]),
    ),
    ("POST", "/api/v1/hotplates", AnyOf(&[P::EnterUserHotPlates])),
    (
        "POST",
        "/api/v1/hotplates/{id}/approve",
        AnyOf(&[P::ApproveUserHotPlates]),
    ),
    (
        "POST",
        "/api/v1/hotplates/{id}/reject",
        AnyOf(&[P::ApproveUserHotPlates]),
    ),
    ("GET", "/api/v1/alerts/stream", AnyOf(&[P::ViewAlerts])),
    ("GET", "/api/v1/hits", AnyOf(&[P::ViewAlerts])),
    ("GET", "/api/v1/hits/{id}", AnyOf(&[P::ViewAlerts])),
    (
        "POST",
        "/api/v1/hits/{id}/disposition",
        AnyOf(&[P::VerifyHits]),
    ),
    ("POST", "/api/v1/hits/{id}/action", AnyOf(&[P::VerifyHits])),
    (
        "POST",
        "/api/v1/hits/{id}/amendments",
        AnyOf(&[P::VerifyHits]),
    ),
    ("GET", "/api/v1/holds", AnyOf(&[P::ManagePolicy])),
    ("POST", "/api/v1/holds", AnyOf(&[P::ManagePolicy])),
    (
        "POST",
        "/api/v1/holds/{id}/release",
        AnyOf(&[P::ManagePolicy]),
    ),
    ("POST", "/api/v1/purge", AnyOf(&[P::ManagePolicy])),
    ("GET", "/api/v1/purge/receipts", AnyOf(&[P::ManagePolicy])),
    ("GET", "/api/v1/retention", Public),
    ("GET", "/api/v1/reports/usage", AnyOf(&[P::ViewReports])),
    (
        "GET",
        "/api/v1/reports/usage/year-over-year",
        AnyOf(&[P::ViewReports]),
    ),
    ("GET", "/transparency.json", Public),
    ("POST", "/federation/v1/query", Partner),
    ("POST", "/federation/v1/hits", Partner),
    ("POST", "/federation/v1/revocations", Partner),
    ("POST", "/federation/v1/hotlists", Partner),
    ("POST", "/federation/v1/checkpoints", Partner),
    // Needs ManageSharing as well; a hot list is plate data, so training is checked.
    (
        "POST",
        "/api/v1/agreements/{id}/hotlists/{name}/import",
        AnyOf(&[P::ManageHotLists]),
    ),
    ("GET", "/api/v1/agreements", AnyOf(&[P::ManageSharing])),
    ("POST", "/api/v1/agreements", AnyOf(&[P::ManageSharing])),
    (
        "POST",
        "/api/v1/agreements/import",
        AnyOf(&[P::ManageSharing]),
    ),
    (
        "POST",
        "/api/v1/agreements/{id}/sign",
        AnyOf(&[P::ManageSharing]),
    ),
    (
        "POST",
        "/api/v1/agreements/{id}/revoke",
        AnyOf(&[P::ManageSharing]),
    ),
    (
        "GET",
        "/api/v1/federation/requests",
        AnyOf(&[P::ManageSharing, P::ReadAudit]),
    ),
    ("GET", "/api/v1/federation/hits", AnyOf(&[P::ViewAlerts])),
    (
        "POST",
        "/api/v1/federation/search",
        AnyOf(&[P::SearchReads]),
    ),
    (
        "GET",
        "/api/v1/federation/summary",
        AnyOf(&[P::ViewReports, P::ManageSharing]),
    ),
    (
        "GET",
        "/api/v1/federation/witnessed",
        AnyOf(&[P::ReadAudit]),
    ),
    (
        "GET",
        "/api/v1/federation/witnessed/{id}",
        AnyOf(&[P::ReadAudit]),
    ),
];

fn role_may(role: Role, access: Access) -> bool {
    match access {
        Public | Session | SignedIn => true,
        AnyOf(ps) => ps.iter().any(|p| role.allows(*p)),
        Camera | Partner => false,
    }
}

fn exposes_plate_data(access: Access) -> bool {
    matches!(access, AnyOf(ps) if ps.iter().all(|p| p.exposes_plate_data()))
}

async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    target_id: i64,
) -> (u16, String) {
    let url = server.url(&path.replace("{id}", &target_id.to_string()));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    // Redirects are answers too (the console's pages redirect): do not follow them.
    let mut req = TestServer::no_redirect_client().request(method.clone(), url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if method != reqwest::Method::GET {
        req = req.header("content-type", "application/json").body("{}");
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    // A live event stream never ends: its status is the answer.
    let streaming = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body: Value = if streaming {
        Value::Null
    } else {
        res.json().await.unwrap_or(Value::Null)
    };
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn is_refusal(status: u16) -> bool {
    status == 401 || status == 403
}

#[tokio::test]
async fn every_route_for_every_role_and_state_gives_the_documented_answer() {
    for server in TestServer::start_all().await {
        // The routes the API document lists must be exactly the ones above.
        let doc: Value = server
            .client
            .get(server.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let expected: BTreeSet<(String, String)> = EXPECTED
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        let missing: Vec<_> = documented.difference(&expected).collect();
        let stale: Vec<_> = expected.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes without an expected answer in permissions.rs: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "routes listed in permissions.rs but not in the API document: {stale:?}"
        );
        // The credentials the document names for each route are the ones it answers to.
        for &(method, path, access) in EXPECTED {
            use candor_server::openapi::{Caller, caller};
            let named = match access {
                Public => Caller::Anyone,
                Camera => Caller::Camera,
                Partner => Caller::Partner,
                Session | SignedIn | AnyOf(_) => Caller::Session,
            };
            assert_eq!(
                caller(&method.to_lowercase(), path),
                named,
                "{method} {path}"
            );
        }

        let target = server.create_user("target", "officer").await;
        let mut users: Vec<(Role, TestUser)> = Vec::new();
        for role in Role::ALL {
            users.push((
                role,
                server
                    .create_user(&format!("u-{}", role.code()), role.code())
                    .await,
            ));
        }
        // The console's pages answer with redirects and pages: tests/console_pages.rs.
        let routes: Vec<_> = EXPECTED.iter().collect();
        for &&(method, path, access) in &routes {
            // No session.
            let (status, code) = call(&server, method, path, None, target.id).await;
            match access {
                Public => assert!(
                    !is_refusal(status) && status < 500,
                    "{method} {path} public: {status} {code}"
                ),
                Camera => assert_eq!(
                    (status, code.as_str()),
                    (401, "missing_api_key"),
                    "{method} {path} without an API key"
                ),
                Partner => assert_eq!(
                    (status, code.as_str()),
                    (401, "unsigned_request"),
                    "{method} {path} without a signature"
                ),
                _ => assert_eq!(
                    (status, code.as_str()),
                    (401, "unauthenticated"),
                    "{method} {path} without a session"
                ),
            }
            if matches!(access, Public) {
                continue;
            }
            // Every role, fully qualified.
            for (role, user) in &users {
                let session = server.session_for(user).await;
                let (status, code) =
                    call(&server, method, path, Some(&session.token), target.id).await;
                if matches!(access, Camera) {
                    // A user session is no camera key, whatever the role.
                    assert_eq!(
                        (status, code.as_str()),
                        (401, "unknown_camera"),
                        "{method} {path} as {role:?}"
                    );
                } else if matches!(access, Partner) {
                    // Nor is it a partner's signature.
                    assert_eq!(
                        (status, code.as_str()),
                        (401, "unsigned_request"),
                        "{method} {path} as {role:?}"
                    );
                } else if role_may(*role, access) {
                    // A request may be one this person started (or one about them): then
                    // separation of duties, not the role, refuses its approval.
                    let own_request = path.starts_with("/api/v1/approvals/")
                        && (status, code.as_str()) == (403, "separation_of_duties");
                    assert!(
                        (!is_refusal(status) || own_request) && status < 500,
                        "{method} {path} as {role:?}: {status} {code}"
                    );
                } else {
                    assert_eq!(
                        (status, code.as_str()),
                        (403, "forbidden"),
                        "{method} {path} as {role:?}"
                    );
                }
            }
        }

        // Special states, each for a role that may otherwise use the route.
        for &&(method, path, access) in &routes {
            if matches!(access, Public | Camera | Partner) {
                continue;
            }
            let role = Role::ALL
                .into_iter()
                .find(|r| role_may(*r, access))
                .expect("some role may use every route");
            let name = |state: &str| {
                format!(
                    "{state}-{}-{}",
                    method.to_lowercase(),
                    path.replace(['/', '{', '}'], "-")
                )
            };

            let locked = server.create_user(&name("locked"), role.code()).await;
            let session = server.session_for(&locked).await;
            // Locked from the test client's address (one failure locks, here).
            server
                .state
                .store
                .record_login_failure(locked.id, "127.0.0.1", candor_store::now_ms(), 1, 600_000)
                .await
                .unwrap();
            let (status, code) = call(&server, method, path, Some(&session.token), target.id).await;
            assert_eq!(
                (status, code.as_str()),
                (403, "account_locked"),
                "{method} {path} locked"
            );

            let unacked = server.create_user(&name("unacked"), role.code()).await;
            sqlx::query("DELETE FROM policy_acknowledgements WHERE user_id = $1")
                .bind(unacked.id)
                .execute(server.state.store.pool())
                .await
                .unwrap();
            let session = server.session_for(&unacked).await;
            let (status, code) = call(&server, method, path, Some(&session.token), target.id).await;
            if matches!(access, Session) {
                assert!(
                    !is_refusal(status) && status < 500,
                    "{method} {path} unacknowledged: {status} {code}"
                );
            } else {
                assert_eq!(
                    (status, code.as_str()),
                    (403, "policy_ack_required"),
                    "{method} {path} unacknowledged"
                );
            }

            let untrained = server.create_user(&name("expired"), role.code()).await;
            sqlx::query("UPDATE training_certificates SET expires_at = $1 WHERE user_id = $2")
                .bind(candor_store::now_ms() - 1)
                .bind(untrained.id)
                .execute(server.state.store.pool())
                .await
                .unwrap();
            let session = server.session_for(&untrained).await;
            let (status, code) = call(&server, method, path, Some(&session.token), target.id).await;
            if exposes_plate_data(access) {
                assert_eq!(
                    (status, code.as_str()),
                    (403, "training_expired"),
                    "{method} {path} training expired"
                );
            } else {
                assert!(
                    !is_refusal(status) && status < 500,
                    "{method} {path} training expired: {status} {code}"
                );
            }
        }
        server.stop().await;
    }
}
