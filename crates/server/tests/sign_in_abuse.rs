//! Strangers at the sign-in routes cannot fill the disk: what they type is recorded bounded,
//! bodies larger than a sign-in needs are refused, and failed sign-ins are throttled per
//! source address and per username — without locking out anyone else (security review,
//! issue 27).

mod common;

use common::{TestServer, set_cookie};
use serde_json::{Value, json};

/// A client whose connections come from `ip`: every 127/8 address reaches the server
/// listening on 127.0.0.1, and the server sees each as its own source address.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    candor_server::http_client::install_crypto_provider();
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_session(
    server: &TestServer,
    client: &reqwest::Client,
    body: &Value,
) -> reqwest::Response {
    client
        .post(server.url("/api/v1/session"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Bytes of every stored audit record's text (actor, target, source, details).
async fn audit_bytes(server: &TestServer) -> i64 {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(LENGTH(actor) + LENGTH(target) + LENGTH(source) + LENGTH(details)), 0) AS n FROM audit_log",
    )
    .fetch_one(server.state.store.pool())
    .await
    .unwrap();
    sqlx::Row::get::<i64, _>(&row, "n")
}

#[tokio::test]
async fn a_huge_username_is_refused_or_recorded_bounded() {
    for server in TestServer::start_all().await {
        let before = audit_bytes(&server).await;
        let client = client_from([127, 0, 0, 1]);

        // 2 MB through the JSON API: refused as too large, in the API's error envelope.
        let huge = "x".repeat(2_000_000);
        let res = post_session(
            &server,
            &client,
            &json!({"username": huge, "password": "whatever it is"}),
        )
        .await;
        assert_eq!(res.status(), 413);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");

        // 100 kB through the console's form (with a valid form token): refused too.
        let res = client.get(server.url("/login")).send().await.unwrap();
        let (csrf, _) = set_cookie(&res, "candor_login_csrf").unwrap();
        let form = format!(
            "csrf_token={csrf}&username={}&password=whatever+it+is&code=",
            "y".repeat(100_000)
        );
        let res = client
            .post(server.url("/login"))
            .header("cookie", format!("candor_login_csrf={csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        let page = res.text().await.unwrap();
        assert!(page.contains("too large"), "{page}");
        assert!(!page.contains("yyyyyyyy"), "the page does not echo it back");

        // A long name that fits the body limit is audited, cut to a bounded length.
        let long = "z".repeat(4_000);
        let res = post_session(
            &server,
            &client,
            &json!({"username": long, "password": "whatever it is"}),
        )
        .await;
        assert_eq!(res.status(), 401);
        let failure = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                action_prefix: Some("login.failure".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            failure.len(),
            1,
            "only the last attempt reached the sign-in check"
        );
        let actor = serde_json::to_string(&failure[0].entry.actor).unwrap();
        assert!(
            actor.len() < 600,
            "the claimed name is bounded: {} bytes",
            actor.len()
        );
        assert!(
            actor.contains("zzzz"),
            "the start of what was typed is kept: {actor}"
        );
        let grown = audit_bytes(&server).await - before;
        assert!(grown < 4_000, "the audit log grew by {grown} bytes");
        server.stop().await;
    }
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address_and_per_username() {
    for server in TestServer::start_all().await {
        let pat = server.create_user("pat", "investigator").await;

        // One address trying name after name is stopped, with a time to come back.
        let attacker = client_from([127, 0, 0, 2]);
        let mut throttled_at = None;
        for i in 0..40 {
            let res = post_session(
                &server,
                &attacker,
                &json!({"username": format!("guess{i}"), "password": "not the password"}),
            )
            .await;
            if res.status() == 429 {
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry > 0);
                let body: Value = res.json().await.unwrap();
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("address"),
                    "{body}"
                );
                throttled_at = Some(i);
                break;
            }
            assert_eq!(res.status(), 401);
        }
        let at = throttled_at.expect("the address is throttled within 40 failures");
        assert!(at >= 5, "a few mistakes are allowed ({at})");
        // While throttled, the address gets nowhere, even with the right credentials.
        let res = post_session(
            &server,
            &attacker,
            &json!({"username": "pat", "password": pat.password, "totp_code": pat.totp_code(0)}),
        )
        .await;
        assert_eq!(res.status(), 429);
        // The throttle's refusals are not recorded one by one.
        let failures = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                action_prefix: Some("login.failure".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            failures.len(),
            at,
            "one record per failure that reached the check"
        );

        // Someone else, from another address, signs in as usual.
        let res = post_session(
            &server,
            &client_from([127, 0, 0, 3]),
            &json!({"username": "pat", "password": pat.password, "totp_code": pat.totp_code(1)}),
        )
        .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);

        // One username tried from address after address is stopped too.
        let mut throttled_at = None;
        for i in 0..40u8 {
            let res = post_session(
                &server,
                &client_from([127, 0, 1, 10 + i]),
                &json!({"username": "ghost", "password": "not the password"}),
            )
            .await;
            if res.status() == 429 {
                let body: Value = res.json().await.unwrap();
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("username"),
                    "{body}"
                );
                throttled_at = Some(i);
                break;
            }
            assert_eq!(res.status(), 401);
        }
        assert!(
            throttled_at.is_some(),
            "the username is throttled within 40 failures"
        );

        // The console's form says the same in words, with the time to wait.
        let client = client_from([127, 0, 0, 2]);
        let res = client.get(server.url("/login")).send().await.unwrap();
        let (csrf, _) = set_cookie(&res, "candor_login_csrf").unwrap();
        let res = client
            .post(server.url("/login"))
            .header("cookie", format!("candor_login_csrf={csrf}"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "someone"),
                ("password", "not the password"),
                ("code", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
        let page = res.text().await.unwrap();
        assert!(page.contains("too many failed sign-ins"), "{page}");
        server.stop().await;
    }
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn failures_lock_the_account_from_their_address_only() {
    for server in TestServer::start_all().await {
        let olga = server.create_user("olga", "officer").await;
        let admin = server.create_user("ada", "administrator").await;
        let (a, b) = (client_from([127, 0, 2, 1]), client_from([127, 0, 2, 2]));
        let wrong =
            json!({"username": "olga", "password": "wrong password!", "totp_code": "000000"});
        let right = |step| json!({"username": "olga", "password": olga.password, "totp_code": olga.totp_code(step)});

        // A stranger at address A knows the name and guesses five times.
        for _ in 0..5 {
            let res = post_session(&server, &a, &wrong).await;
            assert_eq!(error_code(res).await, (401, "invalid_credentials".into()));
        }
        // The sixth try from A is refused even with the right password and code; only they
        // learn that the account is locked: a wrong guess is answered as no account is.
        let res = post_session(&server, &a, &right(0)).await;
        assert_eq!(error_code(res).await, (403, "account_locked".into()));
        let res = post_session(&server, &a, &wrong).await;
        let locked_answer = (res.status().as_u16(), res.text().await.unwrap());
        let no_account = json!({"username": "no-such-olga", "password": "wrong password!", "totp_code": "000000"});
        let res = post_session(&server, &a, &no_account).await;
        assert_eq!(
            locked_answer,
            (res.status().as_u16(), res.text().await.unwrap()),
            "a locked account and no account answer alike"
        );

        // The real user at address B signs in as usual, and works from there.
        let res = post_session(&server, &b, &right(0)).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let token = res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let res = b
            .get(server.url("/api/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        // From A, nothing of the account works, not even an open session.
        let res = a
            .get(server.url("/api/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "account_locked".into()));
        let res = post_session(&server, &a, &right(1)).await;
        assert_eq!(error_code(res).await, (403, "account_locked".into()));

        // The lock is on record with its source, and administrators see where from.
        let locked = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                action_prefix: Some("account.locked".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(locked.len(), 1);
        assert_eq!(locked[0].entry.source, "127.0.2.1");
        assert_eq!(locked[0].entry.details["source"], "127.0.2.1");
        let admin_session = server.session_for(&admin).await;
        let users: Value = server
            .client
            .get(server.url("/api/v1/users"))
            .bearer_auth(&admin_session.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let shown = users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "olga")
            .unwrap();
        assert_eq!(shown["locked_from"][0]["source"], "127.0.2.1", "{shown}");
        assert!(shown["locked_until"].as_i64().is_some(), "{shown}");

        // An administrator's unlock lifts it: A signs in again.
        let res = server
            .client
            .post(server.url(&format!("/api/v1/users/{}/unlock", olga.id)))
            .bearer_auth(&admin_session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let res = post_session(&server, &a, &right(1)).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        server.stop().await;
    }
}

#[tokio::test]
async fn one_address_cannot_make_a_name_wait_for_everyone() {
    for server in TestServer::start_all().await {
        let olga = server.create_user("olga", "officer").await;
        let a = client_from([127, 0, 3, 1]);
        let wrong =
            json!({"username": "olga", "password": "wrong password!", "totp_code": "000000"});
        // A stranger at A goes on past the lock, up to what the address may try: every try
        // is answered as a wrong one, none makes the name wait.
        let tries = candor_server::auth::throttle::ADDRESS_LIMIT;
        for i in 0..tries {
            let res = post_session(&server, &a, &wrong).await;
            assert_eq!(
                error_code(res).await,
                (401, "invalid_credentials".into()),
                "try {i}"
            );
        }
        assert_eq!(post_session(&server, &a, &wrong).await.status(), 429);
        // The real user, elsewhere, signs in as usual.
        let right =
            json!({"username": "olga", "password": olga.password, "totp_code": olga.totp_code(0)});
        let res = post_session(&server, &client_from([127, 0, 3, 2]), &right).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        server.stop().await;
    }
}
