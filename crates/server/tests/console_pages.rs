//! The console's pages for every role and account state, without a browser: who sees a
//! page, who is refused (an HTML page, in words), where a person without a usable session is
//! sent, and that no page may be cached.

mod common;

use candor_policy::{Permission as P, Role};
use candor_store::testing::TestDb;
use common::{TestServer, TestUser};

/// Each console page and the permissions that open it (any of them; none: every role).
const PAGES: &[(&str, &[P])] = &[
    ("/account", &[]),
    ("/console/alerts", &[P::ViewAlerts]),
    ("/console/search", &[P::SearchReads]),
    (
        "/console/hotlists",
        &[
            P::ManageHotLists,
            P::EnterUserHotPlates,
            P::ApproveUserHotPlates,
        ],
    ),
    ("/console/audit", &[P::ReadAudit]),
    ("/console/audit/reviews", &[P::ReviewQueries]),
];

struct Answer {
    status: u16,
    location: String,
    cache: String,
    body: String,
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> Answer {
    let mut req = TestServer::no_redirect_client().get(server.url(path));
    if let Some(t) = token {
        req = req.header("cookie", format!("candor_session={t}"));
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Answer {
        status: res.status().as_u16(),
        location: header("location"),
        cache: header("cache-control"),
        body: String::new(),
    }
    .with_body(res)
    .await
}

impl Answer {
    async fn with_body(mut self, res: reqwest::Response) -> Answer {
        self.body = res.text().await.unwrap_or_default();
        self
    }
}

async fn session(server: &TestServer, user: &TestUser) -> String {
    server.session_for(user).await.token
}

#[tokio::test]
async fn every_page_for_every_role_and_account_state() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let mut users = Vec::new();
    for role in Role::ALL {
        users.push((
            role,
            server
                .create_user(&format!("u-{}", role.code()), role.code())
                .await,
        ));
    }
    for &(path, needs) in PAGES {
        let a = get(&server, path, None).await;
        assert_eq!(
            (a.status, a.location.as_str()),
            (303, "/login?reason=signed_out"),
            "{path} without a session"
        );
        for (role, user) in &users {
            let a = get(&server, path, Some(&session(&server, user).await)).await;
            assert_eq!(a.cache, "no-store", "{path} as {role:?}");
            if needs.is_empty() || needs.iter().any(|p| role.allows(*p)) {
                assert_eq!(a.status, 200, "{path} as {role:?}: {}", a.body);
                assert!(a.body.contains("<nav"), "{path} as {role:?}");
            } else {
                assert_eq!(a.status, 403, "{path} as {role:?}");
                assert!(
                    a.body.contains("does not allow"),
                    "{path} as {role:?}: {}",
                    a.body
                );
            }
        }
    }

    // Account states send the browser to the step that is missing.
    let locked = server.create_user("locked", "officer").await;
    let token = session(&server, &locked).await;
    sqlx::query("UPDATE users SET locked_until = $1 WHERE id = $2")
        .bind(candor_store::now_ms() + 600_000)
        .bind(locked.id)
        .execute(server.state.store.pool())
        .await
        .unwrap();
    let a = get(&server, "/console/alerts", Some(&token)).await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/login?reason=account_locked")
    );
    let page = get(&server, "/login?reason=account_locked", None).await;
    assert!(page.body.contains("Wait 10 minutes"), "{}", page.body);

    let unacked = server.create_user("unacked", "officer").await;
    sqlx::query("DELETE FROM policy_acknowledgements WHERE user_id = $1")
        .bind(unacked.id)
        .execute(server.state.store.pool())
        .await
        .unwrap();
    let token = session(&server, &unacked).await;
    let a = get(&server, "/console/alerts", Some(&token)).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/login/policy"));
    let a = get(&server, "/login/policy", Some(&token)).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("acknowledge"));

    let untrained = server.create_user("untrained", "officer").await;
    sqlx::query("UPDATE training_certificates SET expires_at = $1 WHERE user_id = $2")
        .bind(candor_store::now_ms() - 1)
        .bind(untrained.id)
        .execute(server.state.store.pool())
        .await
        .unwrap();
    let token = session(&server, &untrained).await;
    let a = get(&server, "/console/alerts", Some(&token)).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("training certificate expired"),
        "{}",
        a.body
    );

    let a = get(&server, "/login", None).await;
    assert_eq!(a.cache, "no-store");
    server.stop().await;
}

#[tokio::test]
async fn console_forms_need_the_session_csrf_token() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let officer = server.create_user("officer", "officer").await;
    let s = server.session_for(&officer).await;
    let post = |body: String| {
        TestServer::no_redirect_client()
            .post(server.url("/console/hotplates"))
            .header("cookie", format!("candor_session={}", s.token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let res = post("plate=ABC123&reason=r&case_number=2026-000001&expires=2030-01-01".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("CSRF"));
    let res = post(format!(
        "csrf_token={}&plate=&reason=&case_number=&expires=",
        s.csrf
    ))
    .await
    .unwrap();
    assert_eq!(
        res.status(),
        422,
        "the form is checked once the token is good"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("Give the plate."), "{body}");
    server.stop().await;
}
