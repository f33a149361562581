//! Passwords (issue 27, item 9): common and repetitive passwords are refused, and a password
//! an administrator set (a new account, a reset) is replaced by its owner at next sign-in.

mod common;

use common::{TestServer, TestSession};
use serde_json::{Value, json};

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post(
    server: &TestServer,
    s: Option<&TestSession>,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let mut req = server.client.post(server.url(path)).json(&body);
    if let Some(s) = s {
        req = req.bearer_auth(&s.token);
    }
    answer(req.send().await.unwrap()).await
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn common_and_repetitive_passwords_are_refused() {
    for server in TestServer::start_all().await {
        let admin = server.create_user("ada", "administrator").await;
        let s = server.session_for(&admin).await;
        for weak in ["aaaaaaaaaaaa", "password1234", "qwertyuiop12"] {
            let body = json!({"username": "weak", "display_name": "W", "role": "officer", "password": weak});
            let (status, v) = post(&server, Some(&s), "/api/v1/users", body).await;
            assert_eq!((status, code(&v)), (422, "weak_password"), "{weak}: {v}");
        }
        assert!(
            server
                .state
                .store
                .user_by_username("weak")
                .await
                .unwrap()
                .is_none()
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_password_an_administrator_set_is_replaced_at_first_sign_in() {
    for server in TestServer::start_all().await {
        let admin = server.create_user("ada", "administrator").await;
        let s = server.session_for(&admin).await;
        let given = "the passphrase ada gave";
        let body = json!({"username": "newbie", "display_name": "New", "role": "officer", "password": given});
        let (status, v) = post(&server, Some(&s), "/api/v1/users", body).await;
        assert_eq!(status, 201, "{v}");
        let id = v["id"].as_i64().unwrap();

        // The given password alone opens nothing.
        let sign_in = |extra: Value| {
            let mut body = json!({"username": "newbie", "password": given});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            body
        };
        let (status, v) = post(&server, None, "/api/v1/session", sign_in(json!({}))).await;
        assert_eq!((status, code(&v)), (428, "password_change_required"), "{v}");
        let (status, v) = post(
            &server,
            None,
            "/api/v1/session",
            sign_in(json!({"new_password": given})),
        )
        .await;
        assert_eq!((status, code(&v)), (422, "weak_password"), "{v}");
        let (status, v) = post(
            &server,
            None,
            "/api/v1/session",
            sign_in(json!({"new_password": "aaaaaaaaaaaa"})),
        )
        .await;
        assert_eq!((status, code(&v)), (422, "weak_password"), "{v}");
        let own = "my very own chosen passphrase";
        let (status, v) = post(
            &server,
            None,
            "/api/v1/session",
            sign_in(json!({"new_password": own})),
        )
        .await;
        assert!(status == 200 || status == 201, "{status} {v}");
        let user = server.state.store.user_by_id(id).await.unwrap().unwrap();
        assert!(!user.password_must_change);
        // The given password is gone; the person's own works without a new one.
        let (status, _) = post(&server, None, "/api/v1/session", sign_in(json!({}))).await;
        assert_eq!(status, 401);
        let (status, v) = post(
            &server,
            None,
            "/api/v1/session",
            json!({"username": "newbie", "password": own}),
        )
        .await;
        assert!(status == 200 || status == 201, "{status} {v}");

        // A reset by an administrator sets the flag again.
        let (status, _) = post(
            &server,
            Some(&s),
            &format!("/api/v1/users/{id}/password"),
            json!({"password": "a reset passphrase from ada"}),
        )
        .await;
        assert_eq!(status, 204);
        let (status, v) = post(
            &server,
            None,
            "/api/v1/session",
            json!({"username": "newbie", "password": "a reset passphrase from ada"}),
        )
        .await;
        assert_eq!((status, code(&v)), (428, "password_change_required"), "{v}");
        server.stop().await;
    }
}
