//! The console in a real headless Chromium, against the real server on SQLite: sign-in with
//! TOTP enrolment, a live alert verified in two clicks, a search blocked until it has a
//! purpose, a user hot plate entered by an officer and approved by a supervisor, and an
//! audit verification run, a camera given its stream.

mod common;

use candor_store::testing::TestDb;
use common::browser::Browser;
use common::{TestServer, TestUser, at};
use serde_json::json;

async fn server() -> TestServer {
    TestServer::start(TestDb::sqlite().expect("sqlite test db")).await
}

/// Audit actions recorded so far, oldest first.
async fn audit_actions(server: &TestServer) -> Vec<String> {
    let filter = candor_store::audit_log::AuditFilter {
        action_prefix: None,
        target: None,
        from_ms: None,
        to_ms: None,
        before_seq: None,
        limit: 1000,
    };
    let mut records = server.state.store.search_audit(&filter).await.unwrap();
    records.reverse();
    records.into_iter().map(|r| r.entry.action).collect()
}

#[tokio::test]
async fn sign_in_enrols_an_authenticator_from_the_qr_page_then_signs_in_with_a_code() {
    let server = server().await;
    let password = "a long passphrase for the auditor";
    let user = server
        .state
        .store
        .create_user(
            &candor_store::users::NewUser {
                username: "newauditor".into(),
                display_name: "New Auditor".into(),
                role: "auditor".into(),
                password_hash: candor_server::auth::credentials::hash_password(password).unwrap(),
                created_by: None,
            },
            candor_store::now_ms(),
        )
        .await
        .unwrap();
    let b = Browser::start().await;

    // A page of the console without a session goes to the sign-in form, saying why.
    b.open(&server, "/console/audit").await;
    assert_eq!(b.path().await, "/login");
    assert!(b.text("#notice").await.contains("Sign in"));

    // A wrong password is refused in words.
    b.fill("#username", "newauditor").await;
    b.fill("#password", "not the password").await;
    b.click("button[type=submit]").await;
    assert!(
        b.wait_for_text("#signin-error", "wrong")
            .await
            .contains("locked")
    );

    // First sign-in: no code yet, so the enrolment page with its QR code.
    b.fill("#password", password).await;
    b.click("button[type=submit]").await;
    b.find("figure.qr svg").await;
    assert_eq!(b.path().await, "/login/enrol");
    let secret = b.text("#totp-secret").await;
    let secret = totp_rs::Secret::try_from_base32(secret.trim())
        .expect("base32 key")
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = |t: u64| candor_server::auth::credentials::totp_code_at(&secret, t).unwrap();

    b.fill("#code", "000000").await;
    b.click("button[type=submit]").await;
    b.wait_for_text(".error", "does not match").await;
    b.fill("#code", &code(now)).await;
    b.click("button[type=submit]").await;
    b.find("#recovery-codes li").await;

    // Then the policy in force must be acknowledged before anything else.
    b.click("#continue").await;
    b.find("#acknowledge").await;
    assert_eq!(b.path().await, "/login/policy");
    b.click("#acknowledge").await;
    b.find("#verify-chain").await;
    assert_eq!(
        b.path().await,
        "/console/audit",
        "auditors land on the audit log"
    );
    let nav = b.text("nav").await;
    assert!(nav.contains("Audit") && nav.contains("Reports"), "{nav}");
    assert!(!nav.contains("Search") && !nav.contains("Alerts"), "{nav}");

    // A record with long details wraps in its cell: the log never runs off the page.
    candor_server::audit::record(
        &server.state,
        candor_server::audit::OpsEvent::system(
            "test.long_details",
            "wrap".into(),
            serde_json::json!({"note": "x".repeat(600), "words": "a b ".repeat(200)}),
        ),
    )
    .await
    .unwrap();
    b.open(&server, "/console/audit").await;
    b.find("#verify-chain").await;
    let fits = b
        .client
        .execute(
            "const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fits,
        serde_json::json!(true),
        "the audit table fits the page"
    );

    // Sign out, and in again with both factors.
    b.click(".signout button").await;
    b.find("#username").await;
    b.fill("#username", "newauditor").await;
    b.fill("#password", password).await;
    b.fill("#code", &code(now + 30)).await;
    b.click("button[type=submit]").await;
    b.find("#verify-chain").await;

    let actions = audit_actions(&server).await;
    for a in [
        "login.failure",
        "mfa.enrolled",
        "policy.acknowledge",
        "logout",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert!(
        server
            .state
            .store
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .totp_enabled
    );
    b.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_hit_arrives_live_and_is_verified_in_two_clicks() {
    let server = server().await;
    let officer = server.create_user("officer1", "officer").await;
    let key = server.camera("cam-1").await;
    server
        .hot_list("stolen", "V", "plate,state,reason\nABC1234,CA,stolen car\n")
        .await;
    let b = Browser::start().await;
    b.sign_in(&server, &officer).await;
    assert_eq!(b.path().await, "/console/alerts");
    b.wait_for_text("#live-status", "Live").await;

    let (status, body) = server
        .post_json(
            "/api/v1/reads",
            &key,
            &json!({"idempotency_key": "live-1", "reads": [{"plate": "ABC1234", "confidence": 0.93, "captured_at": at(-1), "region": "US-CA"}]}),
        )
        .await;
    assert_eq!((status, body["hits"].clone()), (201, json!(1)), "{body}");

    // The card appears without a reload, visibly unverified, with the entry beside the read.
    let card = b.wait_for_text("article.hit.new", "ABC1234").await;
    assert!(card.to_lowercase().contains("unverified"), "{card}");
    assert!(
        card.contains("stolen car") && card.contains("cam-1"),
        "{card}"
    );
    assert!(card.contains("exact"), "{card}");
    // The hit type in words, the state the plate was read as, and the time in the
    // officer's own zone beside UTC.
    assert!(card.contains("stolen vehicle (V)"), "{card}");
    assert!(card.contains("read as US-CA"), "{card}");
    let when = b
        .wait_for_text("article.hit .where time", "your time")
        .await;
    assert!(when.contains("UTC"), "{when}");

    b.click("article.hit button[value=correct_read]").await;
    b.click("article.hit button[value=stop]").await;
    let card = b.wait_for_text("article.hit .recorded", "action").await;
    assert!(card.contains("correct read by officer1"), "{card}");
    assert!(card.contains("stop by officer1"), "{card}");
    assert!(!b.has("article.hit.unverified").await);

    // The stop was a mis-click: corrected by an amendment with a note, not by editing.
    b.click("article.hit details.amend summary").await;
    b.set_value(
        "article.hit details.amend select[name=change]",
        "action:none",
    )
    .await;
    b.fill(
        "article.hit details.amend input[name=note]",
        "no stop was made",
    )
    .await;
    b.click("article.hit details.amend button[type=submit]")
        .await;
    let card = b
        .wait_for_text("article.hit .amendments", "no stop was made")
        .await;
    assert!(
        card.contains("action corrected from stop to none"),
        "{card}"
    );

    let hits = server
        .state
        .store
        .list_hits(&server.state.keys, 0, i64::MAX, false, 10)
        .await
        .unwrap();
    assert_eq!(hits[0].status, "closed");
    let actions = audit_actions(&server).await;
    assert!(actions.iter().any(|a| a == "hit.disposition"));
    assert!(actions.iter().any(|a| a == "hit.action"));
    assert!(actions.iter().any(|a| a == "hit.amendment"));
    b.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_search_is_blocked_until_a_purpose_is_given_then_answered() {
    let server = server().await;
    let investigator = server.create_user("investigator1", "investigator").await;
    let key = server.camera("cam-2").await;
    let (status, _) = server
        .post_json(
            "/api/v1/reads",
            &key,
            &json!({"idempotency_key": "s-1", "reads": [{"plate": "XYZ9876", "confidence": 0.88, "captured_at": at(-3600)}]}),
        )
        .await;
    assert_eq!(status, 201);
    let b = Browser::start().await;
    b.sign_in(&server, &investigator).await;
    b.open(&server, "/console/search").await;

    b.fill("#plate", "XYZ9876").await;
    b.click("#run-search").await;
    let error = b.wait_for_text("#purpose-error", "purpose").await;
    assert!(!error.is_empty());
    assert!(!b.has("#results").await, "no result without a purpose");
    assert!(
        !audit_actions(&server)
            .await
            .iter()
            .any(|a| a == "search.reads"),
        "nothing was searched"
    );

    let policy = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    let category = policy.document.purpose_categories[0].code.clone();
    b.set_value("#category", &category).await;
    b.fill("#case_number", &policy.document.case_number_example)
        .await;
    b.fill("#free_text", "vehicle seen leaving a burglary on Elm St")
        .await;
    b.click("#run-search").await;
    let results = b.wait_for_text("#results", "1 result").await;
    assert!(
        results.contains("XYZ9876") && results.contains("cam-2"),
        "{results}"
    );
    assert!(
        results.contains("Main St & 3rd"),
        "location column: {results}"
    );
    assert!(
        audit_actions(&server)
            .await
            .iter()
            .any(|a| a == "search.reads")
    );

    // The record page opens from the results, and the view is recorded.
    b.click("#results a[href^='/console/reads/']").await;
    b.wait_for_text("h1", "XYZ9876").await;
    assert!(
        audit_actions(&server)
            .await
            .iter()
            .any(|a| a == "read.view")
    );
    b.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_officer_enters_a_hot_plate_and_a_supervisor_approves_it() {
    let server = server().await;
    let officer = server.create_user("officer2", "officer").await;
    let supervisor = server.create_user("supervisor1", "supervisor").await;
    let key = server.camera("cam-3").await;
    let b = Browser::start().await;

    b.sign_in(&server, &officer).await;
    b.open(&server, "/console/hotlists").await;
    // Missing fields are named next to the field.
    b.click("#enter-plate").await;
    b.wait_for_text("#hp-reason-error", "why").await;
    b.fill("#hp-plate", "HOT555").await;
    b.fill("#hp-case", "2026-000124").await;
    b.fill("#hp-reason", "suspect vehicle in an armed robbery")
        .await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    b.set_value("#hp-expires", &expires).await;
    b.click("#enter-plate").await;
    b.wait_for_text("#plate-result", "entered").await;
    assert!(b.text("#approvals").await.contains("HOT555"));
    assert!(
        !b.has("#approvals button[value=approve]").await,
        "officers cannot approve"
    );
    b.click(".signout button").await;
    b.find("#username").await;

    b.sign_in(&server, &supervisor).await;
    b.open(&server, "/console/hotlists").await;
    assert!(b.text("#approvals").await.contains("HOT555"));
    b.fill("#approvals input[name=note]", "checked the case file")
        .await;
    b.click("#approvals button[value=approve]").await;
    b.wait_for_text("#approvals", "Nothing is waiting").await;
    assert!(b.text("body").await.contains("approved"));

    // Approved, it matches.
    let (_, body) = server
        .post_json(
            "/api/v1/reads",
            &key,
            &json!({"idempotency_key": "hp-1", "reads": [{"plate": "HOT555", "confidence": 0.9, "captured_at": at(-1)}]}),
        )
        .await;
    assert_eq!(body["hits"], 1, "{body}");
    let actions = audit_actions(&server).await;
    assert!(actions.iter().any(|a| a == "hotplate.create"));
    assert!(actions.iter().any(|a| a == "hotplate.approve"));
    b.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_auditor_runs_a_verification_and_sees_tampering() {
    let server = server().await;
    let auditor: TestUser = server.create_user("auditor1", "auditor").await;
    let b = Browser::start().await;
    b.sign_in(&server, &auditor).await;
    b.open(&server, "/console/audit").await;
    b.click("#verify-chain").await;
    b.wait_for_text("#verify-result", "intact").await;
    assert!(
        b.text("table").await.contains("audit.verify")
            || b.text("table").await.contains("login.success")
    );

    sqlx::query("UPDATE audit_log SET target = 'x' WHERE seq = 0")
        .execute(server.state.store.pool())
        .await
        .unwrap();
    b.click("#verify-chain").await;
    b.wait_for_text("#verify-result", "does not verify").await;
    b.stop().await;
    server.stop().await;
}

/// A person changes their own password on the Account page: a wrong current password or a
/// mistyped repetition is refused beside the form, then the change goes through.
#[tokio::test]
async fn a_person_changes_their_own_password() {
    let server = server().await;
    let officer = server.create_user("officer-p", "officer").await;
    let b = Browser::start().await;
    b.sign_in(&server, &officer).await;
    b.open(&server, "/account").await;
    let new = "a brand new passphrase for the officer";
    let attempt = |current: String, repeat: &'static str| {
        let b = &b;
        async move {
            b.fill("#current-password", &current).await;
            b.fill("#new-password", new).await;
            b.fill("#repeat-password", repeat).await;
            b.click("#password-form button[type=submit]").await;
        }
    };
    attempt("not my password at all".into(), new).await;
    let error = b.wait_for_text("#password-error", "password").await;
    assert!(!error.is_empty(), "{error}");
    attempt(officer.password.clone(), "a different repetition").await;
    b.wait_for_text("#password-error", "twice").await;
    attempt(officer.password.clone(), new).await;
    // Every session ends, this one too: the sign-in page says why.
    b.wait_for_text("main", "sign in with the new one").await;
    assert_eq!(b.path().await, "/login");

    let user = server
        .state
        .store
        .user_by_id(officer.id)
        .await
        .unwrap()
        .unwrap();
    assert!(candor_server::auth::credentials::verify_password(
        new,
        &user.password_hash
    ));
    assert!(
        audit_actions(&server)
            .await
            .iter()
            .any(|a| a.starts_with("password")),
        "the change is on record"
    );
    b.stop().await;
    server.stop().await;
}

/// An administrator sets a new password and resets the authenticator of someone without
/// plate access on the People page; for someone with it, the same asks a second person.
#[tokio::test]
async fn an_administrator_resets_credentials_from_the_people_page() {
    let server = server().await;
    let admin = server.create_user("d.admin", "administrator").await;
    let clerk = server.create_bare_user("new.clerk", "officer").await;
    let officer = server.create_user("o.granted", "officer").await;
    let b = Browser::start().await;
    b.sign_in(&server, &admin).await;
    b.open(&server, "/console/people").await;
    let confirm = |css: String| {
        let b = &b;
        async move {
            b.click(&css).await;
            b.client.accept_alert().await.unwrap();
        }
    };

    b.fill(
        &format!("#reset-password-{}", clerk.id),
        "a temporary passphrase to replace",
    )
    .await;
    confirm(format!(
        "form[action='/console/people/{}/password'] button",
        clerk.id
    ))
    .await;
    b.wait_for_text("main", "Password set").await;
    let stored = server
        .state
        .store
        .user_by_id(clerk.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.password_must_change,
        "they choose their own at next sign-in"
    );

    confirm(format!(
        "form[action='/console/people/{}/mfa-reset'] button",
        clerk.id
    ))
    .await;
    b.wait_for_text("main", "Authenticator reset").await;

    b.fill(
        &format!("#reset-password-{}", officer.id),
        "another temporary passphrase",
    )
    .await;
    confirm(format!(
        "form[action='/console/people/{}/password'] button",
        officer.id
    ))
    .await;
    b.wait_for_text("main", "approves it").await;

    let actions = audit_actions(&server).await;
    assert!(
        actions.iter().any(|a| a == "user.password_reset"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "user.mfa_reset"), "{actions:?}");
    b.stop().await;
    server.stop().await;
}

/// An investigator searches hits, not only reads: the results show each hit with its
/// verdict, the hit opens from the search that listed it, and the read page lists its hits.
#[tokio::test]
async fn an_investigator_searches_hits_and_sees_their_verdicts() {
    let server = server().await;
    let investigator = server.create_user("investigator2", "investigator").await;
    let officer = server.create_user("officer2", "officer").await;
    let key = server.camera("cam-3").await;
    server
        .hot_list("stolen", "V", "plate,state,reason\nHIT4321,CA,stolen car\n")
        .await;
    for (n, plate) in [(1, "HIT4321"), (2, "NOT1234")] {
        let (status, _) = server
            .post_json(
                "/api/v1/reads",
                &key,
                &json!({"idempotency_key": format!("h-{n}"), "reads": [{"plate": plate, "confidence": 0.9, "captured_at": at(-600)}]}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let hit = server
        .state
        .store
        .list_hits(&server.state.keys, 0, i64::MAX, false, 10)
        .await
        .unwrap()[0]
        .id;
    let o = server.session_for(&officer).await;
    let (status, _) = server
        .call(
            &o,
            reqwest::Method::POST,
            &format!("/api/v1/hits/{hit}/disposition"),
            Some(&json!({"disposition": "correct_read"})),
        )
        .await;
    assert_eq!(status, 200);

    let b = Browser::start().await;
    b.sign_in(&server, &investigator).await;
    b.open(&server, "/console/search").await;
    let policy = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    b.set_value("#category", &policy.document.purpose_categories[0].code)
        .await;
    b.fill("#case_number", &policy.document.case_number_example)
        .await;
    b.fill("#free_text", "stolen car reported on Elm St last night")
        .await;
    b.fill("#plate", "*T*").await;
    b.click("#target-hits").await;
    b.click("#run-search").await;
    let results = b.wait_for_text("#results", "1 result").await;
    assert!(results.contains("HIT4321"), "{results}");
    assert!(
        !results.contains("NOT1234"),
        "only reads with a hit: {results}"
    );
    assert!(
        results.contains("stolen vehicle (V) on stolen: correct read"),
        "{results}"
    );
    assert!(
        audit_actions(&server)
            .await
            .iter()
            .any(|a| a == "search.hits")
    );

    // The hit opens from the search that listed it; so does the read, listing its hits.
    let read_link = b
        .find("#results a[href^='/console/reads/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    b.click("#results a[href^='/console/alerts/hits/']").await;
    b.wait_for_text("body", "HIT4321").await;
    assert!(b.path().await.starts_with("/console/alerts/hits/"));
    b.open(&server, &read_link).await;
    let read = b.wait_for_text("main", "Hits").await;
    assert!(read.contains("correct read"), "{read}");
    b.stop().await;
    server.stop().await;
}

/// A program manager places a legal hold on a read for a case, sees it in force, and
/// releases it with a note; both are on record.
#[tokio::test]
async fn a_program_manager_places_and_releases_a_legal_hold() {
    let server = server().await;
    let manager = server.create_user("p.manager", "program_manager").await;
    let key = server.camera("cam-4").await;
    let (status, _) = server
        .post_json(
            "/api/v1/reads",
            &key,
            &json!({"idempotency_key": "hold-1", "reads": [{"plate": "HLD1234", "confidence": 0.9, "captured_at": at(-60)}]}),
        )
        .await;
    assert_eq!(status, 201);
    let read = server.stored_reads("HLD1234").await[0].id;
    let b = Browser::start().await;
    b.sign_in(&server, &manager).await;
    b.open(&server, "/console/holds").await;
    b.find("#no-holds").await;

    b.fill("#read_id", "999999").await;
    b.fill("#case_number", "2026-004512").await;
    b.fill("#reason", "evidence in a burglary trial").await;
    b.click("#place-hold button[type=submit]").await;
    b.wait_for_text("#hold-error", "not found").await;

    b.fill("#read_id", &read.to_string()).await;
    b.click("#place-hold button[type=submit]").await;
    b.wait_for_text("#notice", "placed").await;
    let holds = b.text("#holds").await;
    assert!(
        holds.contains("2026-004512") && holds.contains("evidence"),
        "{holds}"
    );

    b.fill("input[name=note]", "trial over").await;
    b.click("#holds button[type=submit]").await;
    b.wait_for_text("#notice", "released").await;
    b.open(&server, "/console/holds?status=released").await;
    let released = b.text("#holds").await;
    assert!(released.contains("trial over"), "{released}");
    let actions = audit_actions(&server).await;
    assert!(
        actions.iter().any(|a| a == "legal_hold.place"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "legal_hold.release"),
        "{actions:?}"
    );
    b.stop().await;
    server.stop().await;
}

/// A program manager changes a rule with the policy form, is told which field is wrong, then
/// publishes; after it, the acknowledgement page names the change.
#[tokio::test]
async fn a_program_manager_changes_the_policy_with_its_form() {
    let server = server().await;
    let manager = server.create_user("p.manager", "program_manager").await;
    let b = Browser::start().await;
    b.sign_in(&server, &manager).await;
    b.open(&server, "/console/policy").await;
    b.set_value("#non_hit_reads", "two weeks").await;
    b.fill(
        "#policy-note",
        "shorter retention for reads that matched nothing",
    )
    .await;
    b.click("#publish-policy").await;
    b.wait_for_text("#non_hit_reads-error", "not a length of time")
        .await;

    b.set_value("#non_hit_reads", "14 days").await;
    b.click("#publish-policy").await;
    b.wait_for_text("#policy-result", "is now in force").await;
    // Publishing asks everyone, the author too, to acknowledge the new version first.
    b.open(&server, "/console/alerts").await;
    let changes = b.wait_for_text("#changes", "14 days").await;
    assert!(
        changes.contains("retention.non_hit_reads") && changes.contains("21 days"),
        "{changes}"
    );
    b.stop().await;
    server.stop().await;
}

/// A program manager drafts an agreement with the form: a refusal (no purpose ticked) is
/// named above it with what was typed kept; ticking one drafts it, ready to sign.
#[tokio::test]
async fn a_program_manager_drafts_an_agreement_with_the_form() {
    let server = server().await;
    let manager = server.create_user("p.manager", "program_manager").await;
    let partner_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let b = Browser::start().await;
    b.sign_in(&server, &manager).await;
    b.open(&server, "/console/sharing").await;
    b.fill("#local_jurisdiction", "Virginia, USA").await;
    b.fill("#local_url", "https://alpr.north.example").await;
    b.fill("#partner_agency", "Southville SO").await;
    b.fill("#partner_jurisdiction", "Virginia, USA").await;
    b.fill("#partner_url", "https://alpr.south.example").await;
    b.fill("#partner_key", &hex::encode(partner_key.to_bytes()))
        .await;
    b.click("#draft-agreement").await;
    let refused = b.wait_for_text("#agreement-form-error", "purpose").await;
    assert!(!refused.is_empty());
    b.click("#agreement-form input[name=purposes][value=stolen-vehicle]")
        .await;
    b.click("#agreement-form input[name=hit_types][value=V]")
        .await;
    b.click("#draft-agreement").await;
    b.wait_for_text("main", "drafted").await;
    let agreements = server.state.store.agreements().await.unwrap();
    assert_eq!(agreements.len(), 1);
    assert_eq!(agreements[0].partner_agency, "Southville SO");
    let doc: serde_json::Value = serde_json::from_str(&agreements[0].terms).unwrap();
    let terms = doc.get("agreement").unwrap_or(&doc);
    assert_eq!(terms["purposes"], json!(["stolen-vehicle"]));
    assert_eq!(terms["sharing"]["hit_types"], json!(["V"]));
    assert_eq!(
        terms["sharing"]["fields"],
        json!(["plate", "captured_at", "camera_location"])
    );
    assert_eq!(terms["limits"]["partial_plates"], false);
    b.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_administrator_gives_a_camera_its_stream_and_sees_its_state() {
    let server = server().await;
    let admin = server.create_user("admin1", "administrator").await;
    server.camera("cam-1").await;
    let b = Browser::start().await;
    b.sign_in(&server, &admin).await;
    b.open(&server, "/console/cameras").await;
    assert!(b.text("#stream-cam-1").await.contains("No stream"));
    b.click("#stream-cam-1 summary").await;
    b.fill(
        "#stream-cam-1 input[name=address]",
        "rtsp://viewer:hunter2-secret@127.0.0.1:1/stream1",
    )
    .await;
    b.click("#stream-cam-1 button[type=submit]").await;
    // Shown without the password, and the change is audited.
    let row = b
        .wait_for_text("#stream-cam-1", "rtsp://127.0.0.1:1/stream1")
        .await;
    assert!(!row.contains("hunter2"), "{row}");
    assert!(
        audit_actions(&server)
            .await
            .contains(&"camera.stream.set".to_string())
    );
    // The camera is approved, so the stream is watched; nothing answers there, and the row
    // says so with the decoder's reason.
    let start = std::time::Instant::now();
    loop {
        b.open(&server, "/console/cameras").await;
        let row = b.text("#stream-cam-1").await;
        if row.contains("Last problem") {
            assert!(row.contains("retrying"), "{row}");
            assert!(!row.contains("hunter2"), "{row}");
            break;
        }
        assert!(start.elapsed().as_secs() < 30, "{row}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    b.stop().await;
    server.stop().await;
}
