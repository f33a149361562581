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
    ("/console/cameras", &[P::ManageCameras]),
    ("/console/people", &[P::ManageUsers, P::GrantAccess]),
    ("/console/policy", &[P::ManagePolicy]),
    ("/console/holds", &[P::ManagePolicy]),
    ("/console/sharing", &[P::ManageSharing]),
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
    server
        .state
        .store
        .record_login_failure(locked.id, "127.0.0.1", candor_store::now_ms(), 1, 600_000)
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

#[tokio::test]
async fn an_administrator_registers_a_camera_and_rotates_its_key() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let admin = server.create_user("admin", "administrator").await;
    let s = server.session_for(&admin).await;
    let post = |path: &str, body: &[(&str, &str)]| {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", s.csrf.as_str())];
        form.extend_from_slice(body);
        TestServer::no_redirect_client()
            .post(server.url(path))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&form)
            .send()
    };
    let res = post(
        "/console/cameras",
        &[
            ("id", "elm-nb"),
            ("name", "Elm St northbound"),
            ("kind", "fixed"),
            ("location", "Elm St & 5th"),
            ("direction", "northbound"),
            ("justification", "burglary corridor"),
            ("consultation_date", "2026-01-10"),
            ("permit_reference", "P-9"),
            ("approving_authority", "City council"),
            ("approval_date", "2026-02-01"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let body = res.text().await.unwrap();
    assert!(body.contains("shown only now"), "{body}");
    let camera = server
        .state
        .store
        .get_camera("elm-nb")
        .await
        .unwrap()
        .unwrap();
    assert!(camera.approved);

    let res = post("/console/cameras/elm-nb/rotate-key", &[])
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("shown only now"));
    let res = post("/console/cameras/elm-nb/status", &[("status", "suspended")])
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let camera = server
        .state
        .store
        .get_camera("elm-nb")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(camera.status.as_str(), "suspended");

    // A duplicate identifier is refused in words, with the form kept.
    let res = post(
        "/console/cameras",
        &[
            ("id", "elm-nb"),
            ("name", "again"),
            ("kind", "fixed"),
            ("location", "x"),
        ],
    )
    .await
    .unwrap();
    assert!(res.status().is_client_error());
    let body = res.text().await.unwrap();
    assert!(body.contains("camera-error"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_program_manager_records_training_then_grants_access() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let pm = server.create_user("pm", "program_manager").await;
    let newcomer = server.create_bare_user("newcomer", "investigator").await;
    let s = server.session_for(&pm).await;
    let post = |path: String, body: Vec<(&'static str, String)>| {
        let mut form: Vec<(&str, String)> = vec![("csrf_token", s.csrf.clone())];
        form.extend(body);
        TestServer::no_redirect_client()
            .post(server.url(&path))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&form)
            .send()
    };
    let grant = format!("/console/people/{}/grant", newcomer.id);
    let res = post(grant.clone(), vec![]).await.unwrap();
    assert_eq!(res.status(), 422, "no training yet");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("no current ALPR training")
    );

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let res = post(
        format!("/console/people/{}/training", newcomer.id),
        vec![
            ("course", "ALPR use and policy".into()),
            ("completed_on", today),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Training recorded"));
    let res = post(grant, vec![]).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("when an administrator other than you approves it")
    );
    let user = server
        .state
        .store
        .user_by_id(newcomer.id)
        .await
        .unwrap()
        .unwrap();
    assert!(user.access_granted_at.is_none(), "not before approval");
    // The administrator approves it from the same page.
    let admin = server.create_user("ada", "administrator").await;
    let a = server.session_for(&admin).await;
    let open = server
        .state
        .store
        .open_approval_requests(candor_store::now_ms())
        .await
        .unwrap();
    let res = TestServer::no_redirect_client()
        .get(server.url("/console/people"))
        .header("cookie", format!("candor_session={}", a.token))
        .send()
        .await
        .unwrap();
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Waiting for a second person")
    );
    let res = TestServer::no_redirect_client()
        .post(server.url(&format!("/console/approvals/{}/approve", open[0].id)))
        .header("cookie", format!("candor_session={}", a.token))
        .form(&[("csrf_token", a.csrf.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Approved"));
    let user = server
        .state
        .store
        .user_by_id(newcomer.id)
        .await
        .unwrap()
        .unwrap();
    assert!(user.access_granted_at.is_some());
    server.stop().await;
}

#[tokio::test]
async fn a_policy_edit_becomes_a_new_version_with_its_change_note() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let pm = server.create_user("pm", "program_manager").await;
    let s = server.session_for(&pm).await;
    let current = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    let mut doc = serde_json::to_value(&current.document).unwrap();
    doc["results_cap"] = serde_json::json!(250);
    let post = |document: String, note: &str| {
        TestServer::no_redirect_client()
            .post(server.url("/console/policy"))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&[
                ("csrf_token", s.csrf.as_str()),
                ("mode", "json"),
                ("document", document.as_str()),
                ("note", note),
            ])
            .send()
    };
    let res = post(doc.to_string(), "").await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Say what changed"));
    let res = post("{not json".into(), "typo").await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("not valid JSON"));

    let res = post(doc.to_string(), "raise the results cap for the pilot")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("is now in force"));
    let now = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    assert_eq!(now.version, current.version + 1);
    assert_eq!(now.document.results_cap, 250);
    let filter = candor_store::audit_log::AuditFilter {
        action_prefix: Some("policy.change".into()),
        target: None,
        from_ms: None,
        to_ms: None,
        before_seq: None,
        limit: 10,
    };
    let records = server.state.store.search_audit(&filter).await.unwrap();
    assert_eq!(
        records[0].entry.details["note"],
        "raise the results cap for the pilot"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_policy_form_publishes_rules_typed_in_words_and_names_each_bad_field() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let pm = server.create_user("pm", "program_manager").await;
    let s = server.session_for(&pm).await;
    let page = get(&server, "/console/policy", Some(&s.token)).await;
    assert!(
        page.body
            .contains(r#"id="non_hit_reads" name="non_hit_reads" type="text" value="21 days""#),
        "{}",
        page.body
    );
    let before = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();

    // The form as the page filled it, with some rules changed.
    let mut fields: Vec<(&str, String)> = vec![
        ("csrf_token", s.csrf.clone()),
        ("mode", "form".into()),
        (
            "note",
            "shorter retention for reads that matched nothing".into(),
        ),
        (
            "statement_of_purpose",
            before.document.statement_of_purpose.clone(),
        ),
        (
            "purposes",
            "stolen-vehicle: Stolen vehicle\nmissing-person: Missing or endangered person".into(),
        ),
        (
            "forbidden_purposes",
            "immigration-enforcement: Immigration enforcement".into(),
        ),
        ("forbidden_words", "curious\nhobby".into()),
        (
            "case_number_format",
            before.document.case_number_format.clone(),
        ),
        (
            "case_number_example",
            before.document.case_number_example.clone(),
        ),
        ("max_search_range", "90 days".into()),
        ("results_cap", "100".into()),
        ("partial_allowed", "yes".into()),
        ("partial_max_range", "7 days".into()),
        ("alert_horizon", "1 day".into()),
        ("lookalike_budget", "1".into()),
        ("review_sample_percent", "10".into()),
        ("jurisdiction", "".into()),
        ("non_hit_reads", "nine days".into()),
        ("hits", "1 year".into()),
        ("images", "9 days".into()),
        ("audit_records", "3 years".into()),
        ("user_hot_plate_max_expiry", "30 days".into()),
        ("idle_account_limit", "90 days".into()),
        ("training_validity", "1 year".into()),
    ];
    let post = |fields: Vec<(&str, String)>| {
        TestServer::no_redirect_client()
            .post(server.url("/console/policy"))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&fields)
            .send()
    };
    // A duration that is not one is named at its field, and nothing is published.
    let res = post(fields.clone()).await.unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains(r#"id="non_hit_reads-error""#), "{body}");
    assert!(body.contains("is not a length of time"), "{body}");
    assert!(body.contains("nine days"), "what was typed is kept: {body}");
    // State law is checked when the document is: Maine allows 21 days at most.
    fields.retain(|(k, _)| !matches!(*k, "non_hit_reads" | "jurisdiction"));
    fields.push(("non_hit_reads", "30 days".into()));
    fields.push(("jurisdiction", "maine".into()));
    let res = post(fields.clone()).await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Maine"));
    let now = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    assert_eq!(now.version, before.version, "nothing was published");

    fields.retain(|(k, _)| *k != "non_hit_reads");
    fields.push(("non_hit_reads", "9 days".into()));
    let res = post(fields).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("is now in force"));
    let now = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    assert_eq!(now.version, before.version + 1);
    let d = &now.document;
    assert_eq!(
        d.retention.non_hit_reads,
        std::time::Duration::from_secs(9 * 86_400)
    );
    assert_eq!(d.jurisdiction, Some(candor_policy::Jurisdiction::Maine));
    assert_eq!(d.purpose_categories.len(), 2);
    assert_eq!(
        d.purpose_categories[1].label,
        "Missing or endangered person"
    );
    assert_eq!(d.forbidden_words, ["curious", "hobby"]);
    assert!((d.review.sample_rate - 0.10).abs() < 1e-9);
    // What the form does not show is kept from the version before.
    assert_eq!(d.agency_name, before.document.agency_name);
    assert_eq!(d.transparency, before.document.transparency);
    server.stop().await;
}

#[tokio::test]
async fn a_hot_list_import_reports_every_bad_line_and_keeps_the_list() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let pm = server.create_user("pm", "program_manager").await;
    let s = server.session_for(&pm).await;
    let import = |name: &str, contents: &str| {
        TestServer::no_redirect_client()
            .post(server.url("/console/hotlists/import"))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&[
                ("csrf_token", s.csrf.as_str()),
                ("name", name),
                ("source", "ncic"),
                ("format", "ncic"),
                ("hit_type", ""),
                ("priority", "1"),
                ("contents", contents),
            ])
            .send()
    };
    let bad = "HEADER\nV12345678\nZ123456789LA057020020190509QQQ111    CA\n";
    let res = import("NCIC", bad).await.unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("nothing was imported"), "{body}");
    assert!(body.contains("<td>2</td>"), "line 2 is reported: {body}");
    assert!(
        server
            .state
            .store
            .list_hot_lists()
            .await
            .unwrap()
            .is_empty()
    );

    let res = import("", "x").await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Give the list a name"));
    server.stop().await;
}

#[tokio::test]
async fn a_program_manager_drafts_signs_and_revokes_an_agreement() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let pm = server.create_user("pm", "program_manager").await;
    let s = server.session_for(&pm).await;
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf_token", s.csrf.clone())];
        form.extend(fields);
        TestServer::no_redirect_client()
            .post(server.url(&path))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&form)
            .send()
    };
    let partner_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).to_rfc3339();
    let draft = serde_json::json!({
        "local": {"jurisdiction": "Virginia, USA", "instance_url": "https://alpr.north.example"},
        "partner": {"agency_name": "Southville SO", "jurisdiction": "Virginia, USA",
                    "instance_url": "https://alpr.south.example",
                    "public_key": hex::encode(partner_key.to_bytes())},
        "terms": {
            "sharing": {"plate_queries": true, "hit_types": ["V"], "fields": ["plate", "captured_at"]},
            "purposes": ["stolen-vehicle"], "excluded_purposes": [],
            "limits": {"max_window": "7days", "max_results": 50},
            "recipient_retention": "30days", "effective": day(-1), "expires": day(90)}
    });

    let res = post(
        "/console/sharing/draft".into(),
        vec![("document", "{oops".into())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not a valid agreement request")
    );
    let res = post(
        "/console/sharing/draft".into(),
        vec![("document", draft.to_string())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("drafted") && page.contains("Southville SO"),
        "{page}"
    );
    let agreements = server.state.store.agreements().await.unwrap();
    assert_eq!(agreements.len(), 1);
    let id = agreements[0].id.clone();

    let res = post(format!("/console/sharing/{id}/sign"), vec![])
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Signed agreement"));
    let res = post(
        format!("/console/sharing/{id}/revoke"),
        vec![("reason", " ".into())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422, "a revocation needs its reason");
    let res = post(
        format!("/console/sharing/{id}/revoke"),
        vec![("reason", "pilot ended".into())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("is revoked"));
    let held = server.state.store.agreement(&id).await.unwrap().unwrap();
    assert!(held.revocation.is_some());
    server.stop().await;
}

/// A hit on a read that Candor made from an image shows the plate cut from that image, to
/// those who may see images; fetching it is audited.
#[tokio::test]
async fn a_hit_from_an_image_shows_the_plate_crop() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    server.camera("cam-crop").await;
    server.hot_list("stolen", "V", "plate\nCROP123\n").await;
    let state = &server.state;
    // A 400×200 scene: grey, with a white plate where the engine would have boxed it.
    let mut scene = image::RgbImage::from_pixel(400, 200, image::Rgb([90, 90, 90]));
    for y in 80..120 {
        for x in 100..220 {
            scene.put_pixel(x, y, image::Rgb([250, 250, 250]));
        }
    }
    let mut png = std::io::Cursor::new(Vec::new());
    scene.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let now = candor_store::now_ms();
    let image_id = state
        .store
        .store_image(
            &state.keys,
            &state.config.image_dir(),
            "cam-crop",
            now,
            86_400,
            "image/png",
            png.get_ref(),
        )
        .await
        .unwrap();
    let camera = state.store.get_camera("cam-crop").await.unwrap().unwrap();
    let read = candor_server::ingest::IncomingRead {
        plate: "CROP123".into(),
        confidence: 0.9,
        captured_at: now,
        image_id: Some(image_id),
        plate_box: Some(candor_store::reads::PlateBox {
            x: 100,
            y: 80,
            w: 120,
            h: 40,
        }),
        ..Default::default()
    };
    let outcome = candor_server::ingest::accept(state, &camera, "crop-1", b"crop-1", vec![read])
        .await
        .unwrap();
    let read_id = outcome.hits[0].read_id;
    let hit_id = outcome.hits[0].hit_id;

    let officer = server.create_user("olive", "officer").await;
    let s = server.session_for(&officer).await;
    let get = |path: String, token: String| {
        TestServer::no_redirect_client()
            .get(server.url(&path))
            .header("cookie", format!("candor_session={token}"))
            .send()
    };
    let page = get("/console/alerts".into(), s.token.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let crop_link = format!("/console/reads/{read_id}/plate?hit={hit_id}");
    assert!(page.contains(&crop_link), "{page}");
    let res = get(crop_link.clone(), s.token.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let crop = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    // The box with a margin of a quarter of its height (10 px) on each side.
    assert_eq!((crop.width(), crop.height()), (140, 60));
    assert_eq!(
        crop.to_rgb8().get_pixel(70, 30),
        &image::Rgb([250, 250, 250])
    );
    let viewed = state
        .store
        .search_audit(&candor_store::audit_log::AuditFilter {
            action_prefix: Some("image.view".into()),
            target: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(viewed.len(), 1);
    assert_eq!(viewed[0].entry.details["part"], "plate");

    // Without the image permission, no crop (and no link to one).
    let auditor = server.create_user("audrey", "auditor").await;
    let t = server.session_for(&auditor).await;
    let res = get(crop_link, t.token.clone()).await.unwrap();
    assert_ne!(res.status(), 200);
    server.stop().await;
}

/// Issue 26: `/` leads to the console's sign-in, which links to the transparency page.
#[tokio::test]
async fn the_front_door_leads_to_sign_in_and_the_transparency_page() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let root = get(&server, "/", None).await;
    assert!((300..400).contains(&root.status), "{}", root.status);
    assert_eq!(root.location, "/console");
    let console = get(&server, "/console", None).await;
    assert!((300..400).contains(&console.status));
    assert!(
        console.location.starts_with("/login"),
        "{}",
        console.location
    );
    let login = get(&server, &console.location, None).await;
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("href=\"/transparency\""),
        "{}",
        login.body
    );
    server.stop().await;
}

/// Issue 26: the console registers a camera with its position, and completes its approval
/// record later; dates still to come do not count as approved.
#[tokio::test]
async fn the_console_completes_a_cameras_approval_record_and_position() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    let admin = server.create_user("admin", "administrator").await;
    let s = server.session_for(&admin).await;
    let post = |path: &'static str, body: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", s.csrf.as_str())];
        form.extend(body);
        TestServer::no_redirect_client()
            .post(server.url(path))
            .header("cookie", format!("candor_session={}", s.token))
            .form(&form)
            .send()
    };
    let res = post(
        "/console/cameras",
        vec![
            ("id", "cam-pos"),
            ("name", "Main St"),
            ("kind", "fixed"),
            ("location", "Main St & 3rd"),
            ("latitude", "40.7128"),
            ("longitude", "-74.0060"),
            ("direction", "north"),
            ("justification", "corridor"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let cam = server
        .state
        .store
        .get_camera("cam-pos")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cam.latitude, cam.longitude),
        (Some(40.7128), Some(-74.006))
    );
    assert!(!cam.approved);

    let future = vec![
        ("consultation_date", "2999-01-10"),
        ("permit_reference", "P-9"),
        ("approving_authority", "Council"),
        ("approval_date", "2999-02-01"),
    ];
    let res = post("/console/cameras/cam-pos/approval", future)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cam = server
        .state
        .store
        .get_camera("cam-pos")
        .await
        .unwrap()
        .unwrap();
    assert!(!cam.approved, "dates still to come are not an approval");

    let done = vec![
        ("consultation_date", "2026-01-10"),
        ("permit_reference", "P-9"),
        ("approving_authority", "Council"),
        ("approval_date", "2026-02-01"),
    ];
    let res = post("/console/cameras/cam-pos/approval", done)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cam = server
        .state
        .store
        .get_camera("cam-pos")
        .await
        .unwrap()
        .unwrap();
    assert!(cam.approved);
    server.stop().await;
}

/// The alerts page lists hits waiting for a verdict by urgency: a wanted person above a
/// stolen vehicle seen later.
#[tokio::test]
async fn alerts_put_a_wanted_person_above_a_stolen_vehicle() {
    let server = TestServer::start(candor_store::testing::TestDb::sqlite().unwrap()).await;
    let officer = server.create_user("officer-u", "officer").await;
    let key = server.camera("cam-u").await;
    server
        .hot_list(
            "stolen",
            "V",
            "plate,state,reason,year,make,model,color\nVVV1111,CA,stolen car,2019,Honda,Civic,silver\n",
        )
        .await;
    server
        .hot_list("warrants", "W", "plate,state,reason\nWWW2222,CA,warrant\n")
        .await;
    for (n, plate, ago) in [(1, "WWW2222", -120), (2, "VVV1111", -60)] {
        let (status, _) = server
            .post_json(
                "/api/v1/reads",
                &key,
                &serde_json::json!({"idempotency_key": format!("u-{n}"), "reads": [{"plate": plate, "confidence": 0.9, "captured_at": common::at(ago)}]}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let token = session(&server, &officer).await;
    let page = get(&server, "/console/alerts", Some(&token)).await;
    assert_eq!(page.status, 200);
    let (wanted, stolen) = (
        page.body.find("WWW2222").unwrap(),
        page.body.find("VVV1111").unwrap(),
    );
    assert!(wanted < stolen, "the wanted person comes first");
    assert!(page.body.contains("wanted person (W)"));
    // Each card shows the vehicle the list describes, to compare with the car.
    assert!(
        page.body
            .contains(r#"<dd class="listed-vehicle">2019 Honda Civic, colour silver</dd>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<dd class="listed-vehicle">— (the list gives none)</dd>"#)
    );
    server.stop().await;
}
