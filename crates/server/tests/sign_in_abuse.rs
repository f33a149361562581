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
