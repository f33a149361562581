//! Sign-in, TOTP enrolment, lockout, idle sessions, CSRF and cookies, against the real
//! server on every backend.

mod common;

use common::{TestServer, TestUser, set_cookie};
use serde_json::{Value, json};

async fn post_session(server: &TestServer, body: Value) -> reqwest::Response {
    server
        .client
        .post(server.url("/api/v1/session"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

async fn sign_in(server: &TestServer, user: &TestUser, steps_ahead: u64) -> Value {
    let res = post_session(
        server,
        json!({"username": user.username, "password": user.password, "totp_code": user.totp_code(steps_ahead)}),
    )
    .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    res.json().await.unwrap()
}

#[tokio::test]
async fn first_sign_in_enrols_totp_then_full_access() {
    for server in TestServer::start_all().await {
        // An administrator made without an authenticator (as the bootstrap does).
        let hash =
            candor_server::auth::credentials::hash_password("first admin passphrase").unwrap();
        server
            .state
            .store
            .create_user(
                &candor_store::users::NewUser {
                    username: "root".into(),
                    display_name: "Root".into(),
                    role: "administrator".into(),
                    password_hash: hash,
                    created_by: None,
                },
                candor_store::now_ms(),
            )
            .await
            .unwrap();
        let res = post_session(
            &server,
            json!({"username": "root", "password": "first admin passphrase"}),
        )
        .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["stage"], "enrol");
        let token = body["token"].as_str().unwrap().to_string();
        let bearer = format!("Bearer {token}");

        // Nothing but enrolment until TOTP is set up.
        let res = server
            .client
            .get(server.url("/api/v1/users"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(res).await,
            (403, "mfa_enrolment_required".into())
        );

        let res = server
            .client
            .post(server.url("/api/v1/session/totp"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let enrol: Value = res.json().await.unwrap();
        assert!(
            enrol["otpauth_url"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );

        // A wrong code is refused; the right one turns the factor on and gives recovery codes.
        let res = server
            .client
            .post(server.url("/api/v1/session/totp/confirm"))
            .header("authorization", &bearer)
            .json(&json!({"code": "000000"}))
            .send()
            .await
            .unwrap();
        let (status, _) = error_code(res).await;
        assert!(status == 422, "{status}");
        let user = server
            .state
            .store
            .user_by_username("root")
            .await
            .unwrap()
            .unwrap();
        let test_user = TestUser {
            id: user.id,
            username: "root".into(),
            password: "first admin passphrase".into(),
            totp_secret: user.totp_secret(&server.state.keys).unwrap().unwrap(),
        };
        let res = server
            .client
            .post(server.url("/api/v1/session/totp/confirm"))
            .header("authorization", &bearer)
            .json(&json!({"code": test_user.totp_code(0)}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let codes: Value = res.json().await.unwrap();
        let codes: Vec<String> = codes["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(codes.len(), 10);

        // Then the policy in force must be acknowledged before anything else.
        let res = server
            .client
            .get(server.url("/api/v1/users"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "policy_ack_required".into()));
        let res = server
            .client
            .get(server.url("/api/v1/policy"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        let policy: Value = res.json().await.unwrap();
        assert_eq!(policy["acknowledged"], false);
        let res = server
            .client
            .post(server.url("/api/v1/policy/acknowledge"))
            .header("authorization", &bearer)
            .json(&json!({"version": policy["version"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let res = server
            .client
            .get(server.url("/api/v1/users"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        // Next sign-in needs the second factor: none, or a wrong one, is refused.
        let res = post_session(
            &server,
            json!({"username": "root", "password": "first admin passphrase"}),
        )
        .await;
        assert_eq!(error_code(res).await, (401, "invalid_credentials".into()));
        // A recovery code works once.
        let res = post_session(&server, json!({"username": "root", "password": "first admin passphrase", "recovery_code": codes[0].to_uppercase()})).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            (body["stage"].as_str(), body["recovery_codes_left"].as_i64()),
            (Some("full"), Some(9))
        );
        let res = post_session(&server, json!({"username": "root", "password": "first admin passphrase", "recovery_code": codes[0]})).await;
        assert_eq!(error_code(res).await, (401, "invalid_credentials".into()));
        server.stop().await;
    }
}

#[tokio::test]
async fn totp_codes_cannot_be_replayed() {
    for server in TestServer::start_all().await {
        let user = server.create_user("ivy", "investigator").await;
        let code = user.totp_code(0);
        let ok = post_session(
            &server,
            json!({"username": "ivy", "password": user.password, "totp_code": code}),
        )
        .await;
        assert_eq!(ok.status(), 200);
        let replay = post_session(
            &server,
            json!({"username": "ivy", "password": user.password, "totp_code": code}),
        )
        .await;
        assert_eq!(
            error_code(replay).await,
            (401, "invalid_credentials".into())
        );
        let wrong_pw = post_session(&server, json!({"username": "ivy", "password": "not the password", "totp_code": user.totp_code(1)})).await;
        assert_eq!(
            error_code(wrong_pw).await,
            (401, "invalid_credentials".into())
        );
        let nobody = post_session(
            &server,
            json!({"username": "nobody", "password": "whatever it is", "totp_code": "123456"}),
        )
        .await;
        assert_eq!(
            error_code(nobody).await,
            (401, "invalid_credentials".into())
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn five_failures_lock_the_account_from_that_address_for_ten_minutes() {
    for server in TestServer::start_all().await {
        let user = server.create_user("olga", "officer").await;
        for _ in 0..4 {
            let res = post_session(
                &server,
                json!({"username": "olga", "password": "wrong password!", "totp_code": "000000"}),
            )
            .await;
            assert_eq!(error_code(res).await, (401, "invalid_credentials".into()));
        }
        // The fifth failure locks the account from this address, but the answer is the one
        // every wrong guess gets: "locked" would tell a stranger that the name is an account.
        let res = post_session(
            &server,
            json!({"username": "olga", "password": "wrong password!", "totp_code": "000000"}),
        )
        .await;
        assert_eq!(error_code(res).await, (401, "invalid_credentials".into()));
        let res = post_session(
            &server,
            json!({"username": "olga", "password": "wrong password!", "totp_code": "000000"}),
        )
        .await;
        let locked_answer = (res.status().as_u16(), res.text().await.unwrap());
        let res = post_session(
            &server,
            json!({"username": "no-such-olga", "password": "wrong password!", "totp_code": "000000"}),
        )
        .await;
        assert_eq!(
            locked_answer,
            (res.status().as_u16(), res.text().await.unwrap()),
            "a locked account and no account answer alike"
        );
        // The right password and code learn that the account is locked, and are refused.
        let res = post_session(
            &server,
            json!({"username": "olga", "password": user.password, "totp_code": user.totp_code(0)}),
        )
        .await;
        assert_eq!(error_code(res).await, (403, "account_locked".into()));
        let now = candor_store::now_ms();
        let until = server
            .state
            .store
            .source_locked_until(user.id, "127.0.0.1", now)
            .await
            .unwrap()
            .unwrap();
        let lock_ms = until - now;
        assert!((9 * 60_000..=10 * 60_000).contains(&lock_ms), "{lock_ms}");
        // An open session of the account is refused too, from this address.
        let session = server.session_for(&user).await;
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "account_locked".into()));
        // Ten minutes later (moved back in the database) sign-in works again.
        sqlx_exec(
            &server,
            "UPDATE sign_in_failures SET locked_until = $1 WHERE user_id = $2",
            candor_store::now_ms() - 1,
            user.id,
        )
        .await;
        sign_in(&server, &user, 1).await;
        server.stop().await;
    }
}

async fn sqlx_exec(server: &TestServer, sql: &'static str, a: i64, b: impl ToString) {
    let b = b.to_string();
    let q = sqlx::query(sql).bind(a);
    let q = match b.parse::<i64>() {
        Ok(n) => q.bind(n),
        Err(_) => q.bind(b),
    };
    q.execute(server.state.store.pool()).await.unwrap();
}

#[tokio::test]
async fn idle_sessions_end_after_thirty_minutes() {
    for server in TestServer::start_all().await {
        let user = server.create_user("sam", "supervisor").await;
        let session = server.session_for(&user).await;
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let digest = candor_server::auth::credentials::token_digest(&session.token);
        // 29 idle minutes: still live.
        sqlx_exec(
            &server,
            "UPDATE sessions SET last_seen_at = $1 WHERE id_digest = $2",
            candor_store::now_ms() - 29 * 60_000,
            &digest,
        )
        .await;
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        // 31 idle minutes: ended, for good.
        sqlx_exec(
            &server,
            "UPDATE sessions SET last_seen_at = $1 WHERE id_digest = $2",
            candor_store::now_ms() - 31 * 60_000,
            &digest,
        )
        .await;
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (401, "session_ended".into()));
        sqlx_exec(
            &server,
            "UPDATE sessions SET last_seen_at = $1 WHERE id_digest = $2",
            candor_store::now_ms(),
            &digest,
        )
        .await;
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (401, "session_ended".into()));
        let stored = server.state.store.session(&digest).await.unwrap().unwrap();
        assert_eq!(stored.ended_reason.as_deref(), Some("idle"));
        // No token at all.
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (401, "unauthenticated".into()));
        server.stop().await;
    }
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_token() {
    for server in TestServer::start_all().await {
        let admin = server.create_user("ada", "administrator").await;
        let session = server.session_for(&admin).await;
        let cookie = format!("candor_session={}", session.token);
        let new_user = json!({"username": "newbie", "display_name": "New", "role": "officer", "password": "a long enough passphrase"});
        // Cookie without the CSRF header: refused.
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .header("cookie", &cookie)
            .json(&new_user)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "csrf".into()));
        // Wrong token: refused.
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .header("cookie", &cookie)
            .header("x-csrf-token", "forged")
            .json(&new_user)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "csrf".into()));
        // Right token: accepted.
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &session.csrf)
            .json(&new_user)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        // Reads need no token; bearer requests need none.
        let res = server
            .client
            .get(server.url("/api/v1/users"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = server
            .client
            .post(server.url("/api/v1/users/2/unlock"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        // Console forms carry it as a field: sign-out without it is refused, with it works.
        let client = TestServer::no_redirect_client();
        let res = client
            .post(server.url("/logout"))
            .header("cookie", &cookie)
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let res = client
            .post(server.url("/logout"))
            .header("cookie", &cookie)
            .form(&[("csrf_token", session.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (401, "session_ended".into()));
        server.stop().await;
    }
}

#[tokio::test]
async fn console_sign_in_form_sets_a_strict_cookie() {
    for server in TestServer::start_all().await {
        let user = server.create_user("carl", "investigator").await;
        let client = TestServer::no_redirect_client();
        let page = client.get(server.url("/login")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let (login_csrf, _) = set_cookie(&page, "candor_login_csrf").expect("login csrf cookie");
        let html = page.text().await.unwrap();
        assert!(html.contains(&login_csrf) && html.contains("name=\"password\""));

        // A form posted without the page's token (cross-site) is refused.
        let res = client
            .post(server.url("/login"))
            .form(&[
                ("csrf_token", "forged"),
                ("username", "carl"),
                ("password", user.password.as_str()),
                ("code", &user.totp_code(0)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let res = client
            .post(server.url("/login"))
            .header("cookie", format!("candor_login_csrf={login_csrf}"))
            .header("x-forwarded-proto", "https")
            .form(&[
                ("csrf_token", login_csrf.as_str()),
                ("username", "carl"),
                ("password", user.password.as_str()),
                ("code", &user.totp_code(0)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/console");
        let (token, header) = set_cookie(&res, "candor_session").expect("session cookie");
        assert!(header.contains("HttpOnly"), "{header}");
        assert!(header.contains("SameSite=Strict"), "{header}");
        assert!(header.contains("Secure"), "{header}");
        let res = client
            .get(server.url("/account"))
            .header("cookie", format!("candor_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("carl"));

        // A wrong password re-renders the form with the reason.
        let page = client.get(server.url("/login")).send().await.unwrap();
        let (login_csrf, _) = set_cookie(&page, "candor_login_csrf").unwrap();
        let res = client
            .post(server.url("/login"))
            .header("cookie", format!("candor_login_csrf={login_csrf}"))
            .form(&[
                ("csrf_token", login_csrf.as_str()),
                ("username", "carl"),
                ("password", "wrong wrong wrong"),
                ("code", "123456"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.text().await.unwrap().contains("wrong"));
        server.stop().await;
    }
}

#[tokio::test]
async fn administrators_manage_accounts_and_others_cannot() {
    for server in TestServer::start_all().await {
        let admin = server.create_user("ada", "administrator").await;
        let officer = server.create_user("otto", "officer").await;
        let a = server.session_for(&admin).await;
        let o = server.session_for(&officer).await;
        let body = json!({"username": "pat", "display_name": "Pat", "role": "program_manager", "password": "program manager passphrase"});
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .bearer_auth(&o.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "forbidden".into()));
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .bearer_auth(&a.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let pat: Value = res.json().await.unwrap();
        assert_eq!(
            (pat["role"].as_str(), pat["mfa_enrolled"].as_bool()),
            (Some("program_manager"), Some(false))
        );
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .bearer_auth(&a.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 409);
        let weak = json!({"username": "weak", "display_name": "W", "role": "officer", "password": "short"});
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .bearer_auth(&a.token)
            .json(&weak)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (422, "weak_password".into()));
        let bad_role = json!({"username": "x1", "display_name": "X", "role": "king", "password": "a long enough passphrase"});
        let res = server
            .client
            .post(server.url("/api/v1/users"))
            .bearer_auth(&a.token)
            .json(&bad_role)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (422, "invalid_role".into()));

        // Disabling ends the officer's sessions.
        let res = server
            .client
            .patch(server.url(&format!("/api/v1/users/{}", officer.id)))
            .bearer_auth(&a.token)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = server
            .client
            .get(server.url("/api/v1/session"))
            .bearer_auth(&o.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        // Roles are a program manager's to assign, not an administrator's.
        let res = server
            .client
            .patch(server.url(&format!("/api/v1/users/{}", officer.id)))
            .bearer_auth(&a.token)
            .json(&json!({"role": "investigator"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (403, "forbidden".into()));
        // Administrators cannot disable themselves.
        let res = server
            .client
            .patch(server.url(&format!("/api/v1/users/{}", admin.id)))
            .bearer_auth(&a.token)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res).await, (422, "own_account".into()));
        server.stop().await;
    }
}

#[tokio::test]
async fn sign_ins_are_audited_success_or_failure() {
    for server in TestServer::start_all().await {
        let user = server.create_user("audra", "auditor").await;
        let res = post_session(
            &server,
            json!({"username": "audra", "password": "wrong password!!", "totp_code": "000000"}),
        )
        .await;
        assert_eq!(res.status(), 401);
        let res = post_session(
            &server,
            json!({"username": "ghost", "password": "wrong password!!"}),
        )
        .await;
        assert_eq!(res.status(), 401);
        let body = sign_in(&server, &user, 0).await;
        let filter = candor_store::audit_log::AuditFilter {
            action_prefix: Some("login.".into()),
            limit: 10,
            ..Default::default()
        };
        let records = server.state.store.search_audit(&filter).await.unwrap();
        let seen: Vec<(String, String)> = records
            .iter()
            .map(|r| {
                (
                    r.entry.action.clone(),
                    serde_json::to_value(r.entry.outcome)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("login.success".to_string(), "success".to_string()),
                ("login.failure".to_string(), "failure".to_string()),
                ("login.failure".to_string(), "failure".to_string()),
            ]
        );
        assert_eq!(records[0].entry.target, format!("user:{}", user.id));
        assert_eq!(records[1].entry.details["reason"], "unknown_user");
        assert_eq!(records[2].entry.details["reason"], "bad_password");
        assert_eq!(
            records[0].entry.source, "127.0.0.1",
            "the client address is recorded"
        );

        // Sign-out is audited too.
        let token = body["token"].as_str().unwrap();
        let res = server
            .client
            .delete(server.url("/api/v1/session"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let last = server
            .state
            .store
            .search_audit(&candor_store::audit_log::AuditFilter {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(last[0].entry.action, "logout");
        server.stop().await;
    }
}

/// Issue 26: an unknown field in an API sign-in (`code` for `totp_code`) is refused, not
/// read as "no code".
#[tokio::test]
async fn a_sign_in_with_an_unknown_field_is_refused() {
    for server in TestServer::start_all().await {
        let user = server.create_user("uma", "officer").await;
        let res = post_session(
            &server,
            json!({"username": "uma", "password": user.password, "code": user.totp_code(0)}),
        )
        .await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_body")),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`code`"),
            "{body}"
        );
        server.stop().await;
    }
}
