//! Ingest end to end over HTTP: native and OpenALPR JSON, idempotency, hits and alerts,
//! webhooks, and every bad-input case (nothing of a rejected batch is stored).

mod common;

use common::{TestServer, at};
use serde_json::json;

fn batch(key: &str, plates: &[&str]) -> serde_json::Value {
    json!({
        "idempotency_key": key,
        "reads": plates.iter().map(|p| json!({
            "plate": p, "confidence": 0.91, "captured_at": at(-5), "region": "us-ca",
            "candidates": [{"plate": p, "confidence": 0.91}], "latitude": 40.1, "longitude": -75.2,
            "heading": 90.0, "image_ref": "cam://1", "vehicle_color": "red", "vehicle_make": "Ford"
        })).collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn native_ingest_hit_alert_and_idempotent_resend() {
    for server in TestServer::start_all().await {
        let key = server.camera("cam-1").await;
        server
            .hot_list("stolen", "V", "plate,state,reason\nABC1234,CA,stolen car\n")
            .await;
        let mut alerts = server.state.alerts.subscribe();

        let body = batch("batch-1", &["XYZ9876", "abc-1234", "ABC1Z34"]);
        let (status, out) = server.post_json("/api/v1/reads", &key, &body).await;
        assert_eq!(status, 201, "{out}");
        assert_eq!(out["accepted"], 3);
        // Exact for ABC1234; look-alike (2/Z) for ABC1Z34.
        assert_eq!(out["hits"], 2);
        assert_eq!(out["duplicate"], false);

        let mut kinds = Vec::new();
        for _ in 0..2 {
            let a = tokio::time::timeout(std::time::Duration::from_secs(5), alerts.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.listed_plate, "ABC1234");
            assert_eq!(a.status, "unverified");
            assert_eq!(a.camera_id, "cam-1");
            kinds.push(a.match_kind);
        }
        kinds.sort();
        assert_eq!(kinds, vec!["exact".to_string(), "lookalike:1".to_string()]);

        let (status, again) = server.post_json("/api/v1/reads", &key, &body).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["batch_id"], out["batch_id"]);
        assert_eq!(server.state.store.count_reads().await.unwrap(), 3);
        assert!(
            alerts.try_recv().is_err(),
            "a re-sent batch raises no new alerts"
        );

        let (status, err) = server
            .post_json("/api/v1/reads", &key, &batch("batch-1", &["OTHER1"]))
            .await;
        assert_eq!(status, 409, "{err}");

        let hits = server
            .state
            .store
            .list_hits(&server.state.keys, 0, i64::MAX, true, 10)
            .await
            .unwrap();
        assert_eq!(hits.len(), 2);
        assert!(
            hits.iter()
                .all(|h| h.status == "unverified"
                    && h.details.reason.as_deref() == Some("stolen car"))
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn openalpr_results_and_group_are_accepted() {
    for server in TestServer::start_all().await {
        let key = server.camera("agent-1").await;
        server.hot_list("amber", "A", "plate\n7ABC123\n").await;
        let now = chrono::Utc::now().timestamp_millis();
        let results = json!({
            "version": 2, "data_type": "alpr_results", "epoch_time": now, "img_width": 1280, "img_height": 720,
            "processing_time_ms": 60.5, "uuid": "agent-1-frame-1", "camera_id": 12345, "agent_uid": "X",
            "results": [{
                "plate": "7ABC123", "confidence": 94.2, "matches_template": 1, "plate_index": 0, "region": "ca",
                "region_confidence": 88, "processing_time_ms": 10.0, "requested_topn": 10,
                "coordinates": [{"x": 1, "y": 2}, {"x": 3, "y": 2}, {"x": 3, "y": 4}, {"x": 1, "y": 4}],
                "vehicle_region": {"x": 0, "y": 0, "width": 100, "height": 100},
                "candidates": [{"plate": "7ABC123", "confidence": 94.2, "matches_template": 1},
                               {"plate": "7A8C123", "confidence": 80.1, "matches_template": 0}]
            }]
        });
        let (status, out) = server.post_json("/api/v1/openalpr", &key, &results).await;
        assert_eq!(status, 201, "{out}");
        assert_eq!(out["hits"], 1);
        let (status, out) = server.post_json("/api/v1/openalpr", &key, &results).await;
        assert_eq!((status, out["duplicate"].clone()), (200, json!(true)));

        let group = json!({
            "version": 2, "data_type": "alpr_group", "epoch_start": now - 2000, "epoch_end": now, "frame_start": 1,
            "frame_end": 9, "company_id": "c", "agent_uid": "X", "agent_version": "2.8", "agent_type": "alprd",
            "camera_id": 12345, "gps_latitude": 40.5, "gps_longitude": -74.1, "country": "us",
            "uuids": ["agent-1-frame-2", "agent-1-frame-3"], "plate_indexes": [0, 0], "candidates": [{"plate": "5XYZ999", "confidence": 90.0, "matches_template": 1}],
            "best_plate": {"plate": "5XYZ999", "confidence": 91.0, "region": "ca", "candidates": []},
            "best_confidence": 91.0, "best_uuid": "agent-1-frame-3", "best_plate_number": "5XYZ999",
            "best_region": "ca", "best_region_confidence": 80, "matches_template": 1, "best_image_width": 1280,
            "best_image_height": 720, "travel_direction": 181.5, "is_parked": false, "is_preview": false,
            "vehicle": {"color": [{"name": "silver-gray", "confidence": 70.0}], "make": [{"name": "toyota", "confidence": 60.0}],
                        "make_model": [], "body_type": [], "year": [], "orientation": []}
        });
        let (status, out) = server.post_json("/api/v1/openalpr", &key, &group).await;
        assert_eq!(status, 201, "{out}");
        assert_eq!(out["hits"], 0);
        let found = server.stored_reads("5XYZ999").await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].details.vehicle_make.as_deref(), Some("toyota"));
        assert_eq!(found[0].details.heading, Some(181.5));

        let (status, out) = server
            .post_json("/api/v1/openalpr", &key, &json!({"data_type": "heartbeat"}))
            .await;
        assert_eq!(status, 200, "{out}");
        let (status, out) = server
            .post_json(
                "/api/v1/openalpr",
                &key,
                &json!({"data_type": "alpr_results", "uuid": 5, "epoch_time": now}),
            )
            .await;
        assert_eq!(status, 400, "{out}");
        assert!(
            out["error"]["message"].as_str().unwrap().contains("uuid"),
            "{out}"
        );
        assert_eq!(server.state.store.count_reads().await.unwrap(), 2);
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_stores_nothing() {
    for server in TestServer::start_all_with(|c| c.ingest.max_body_bytes = 64 * 1024).await {
        let key = server.camera("cam-1").await;
        let url = server.url("/api/v1/reads");
        let c = &server.client;
        let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("").to_string();

        // Camera identity and approval.
        let res = c
            .post(&url)
            .json(&batch("k", &["A1"]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(code(&res.json().await.unwrap()), "missing_api_key");
        let (s, b) = server
            .post_json("/api/v1/reads", "cam_nope", &batch("k", &["A1"]))
            .await;
        assert_eq!((s, code(&b)), (401, "unknown_camera".into()));
        let (_, unapproved_key) = server
            .state
            .store
            .create_camera(&common::new_camera("cam-2", Default::default()))
            .await
            .unwrap();
        let (s, b) = server
            .post_json("/api/v1/reads", &unapproved_key, &batch("k", &["A1"]))
            .await;
        assert_eq!((s, code(&b)), (403, "camera_not_approved".into()), "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("permit_reference")
        );
        for (status, want) in [
            ("suspended", "camera_suspended"),
            ("decommissioned", "camera_decommissioned"),
        ] {
            let k = server.camera(&format!("cam-{status}")).await;
            let upd = candor_store::cameras::CameraUpdate {
                status: Some(candor_store::cameras::CameraStatus::parse(status).unwrap()),
                ..Default::default()
            };
            server
                .state
                .store
                .update_camera(&format!("cam-{status}"), &upd)
                .await
                .unwrap();
            let (s, b) = server
                .post_json("/api/v1/reads", &k, &batch("k", &["A1"]))
                .await;
            assert_eq!((s, code(&b)), (403, want.to_string()));
        }
        let mut other_cam = batch("k", &["A1"]);
        other_cam["reads"][0]["camera"] = json!("cam-9");
        let (s, b) = server.post_json("/api/v1/reads", &key, &other_cam).await;
        assert_eq!((s, code(&b)), (403, "camera_mismatch".into()));

        // Body problems.
        let res = c
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body("{\"reads\": [")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(code(&res.json().await.unwrap()), "malformed_json");
        let res = c
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415);
        let mut wrong_type = batch("k", &["A1"]);
        wrong_type["reads"][0]["confidence"] = json!("high");
        let (s, b) = server.post_json("/api/v1/reads", &key, &wrong_type).await;
        assert_eq!((s, code(&b)), (400, "invalid_field".into()));
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("reads[0].confidence"),
            "{b}"
        );
        let mut unknown = batch("k", &["A1"]);
        unknown["reads"][0]["speed"] = json!(55);
        let (s, b) = server.post_json("/api/v1/reads", &key, &unknown).await;
        assert_eq!(s, 400);
        assert!(
            b["error"]["message"].as_str().unwrap().contains("speed"),
            "{b}"
        );
        let big: Vec<String> = (0..2000).map(|i| format!("PLATE{i}")).collect();
        let big_refs: Vec<&str> = big.iter().map(String::as_str).collect();
        let (s, b) = server
            .post_json("/api/v1/reads", &key, &batch("big", &big_refs))
            .await;
        assert_eq!((s, code(&b)), (413, "payload_too_large".into()));
        let mut no_key = batch("", &["A1"]);
        no_key.as_object_mut().unwrap().remove("idempotency_key");
        let (s, b) = server.post_json("/api/v1/reads", &key, &no_key).await;
        assert_eq!((s, code(&b)), (400, "missing_idempotency_key".into()));
        let (s, b) = server
            .post_json(
                "/api/v1/reads",
                &key,
                &json!({"idempotency_key": "e", "reads": []}),
            )
            .await;
        assert_eq!((s, code(&b)), (422, "empty_batch".into()));

        // Field values: the whole batch is refused, naming each bad read.
        let mut bad = batch("bad", &["GOOD1", "GOOD2", "GOOD3"]);
        bad["reads"][1]["captured_at"] = json!(at(3600));
        bad["reads"][2]["confidence"] = json!(1.5);
        let (s, b) = server.post_json("/api/v1/reads", &key, &bad).await;
        assert_eq!((s, code(&b)), (422, "invalid_reads".into()));
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("reads[1]") && msg.contains("future") && msg.contains("reads[2]"),
            "{msg}"
        );
        let mut stale = batch("stale", &["OLD1"]);
        stale["reads"][0]["captured_at"] = json!(at(-30 * 86_400));
        let (s, _) = server.post_json("/api/v1/reads", &key, &stale).await;
        assert_eq!(s, 422);
        let mut bad_plate = batch("p", &["--"]);
        bad_plate["reads"][0]["latitude"] = json!(123.0);
        let (s, b) = server.post_json("/api/v1/reads", &key, &bad_plate).await;
        assert_eq!(s, 422);
        assert!(b["error"]["message"].as_str().unwrap().contains("latitude"));

        assert_eq!(
            server.state.store.count_reads().await.unwrap(),
            0,
            "nothing of a rejected batch is stored"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn hits_go_to_signed_webhooks_with_retry() {
    use std::sync::{Arc, Mutex};
    // A receiver that fails the first delivery, then records.
    type Deliveries = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Deliveries = Arc::default();
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let app = {
        let received = received.clone();
        let attempts = attempts.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let received = received.clone();
                    let attempts = attempts.clone();
                    async move {
                        if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let sig = headers["x-candor-signature"].to_str().unwrap().to_string();
                        received.lock().unwrap().push((sig, body.to_vec()));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let server = TestServer::start_with(db, |c| {
        c.webhooks = vec![candor_server::config::WebhookConfig {
            url: hook_url.clone(),
            secret: "s3cret".into(),
        }];
    })
    .await;
    let key = server.camera("cam-1").await;
    server.hot_list("stolen", "V", "plate\nHOOK123\n").await;
    let (s, _) = server
        .post_json("/api/v1/reads", &key, &batch("w1", &["HOOK123"]))
        .await;
    assert_eq!(s, 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while received.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered after one retry");
    let (sig, body) = &got[0];
    let t: i64 = sig
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    assert_eq!(sig, &candor_server::webhooks::signature("s3cret", t, body));
    let alert: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(alert["listed_plate"], "HOOK123");
    server.stop().await;
}

/// Posts `body` as an image from camera `camera` with API key `key`.
async fn post_image(
    server: &TestServer,
    camera: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    server
        .client
        .post(server.url(&format!("/api/v1/cameras/{camera}/images")))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn image_upload_is_checked_before_recognition() {
    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let server = TestServer::start_with(db, |c| c.models_dir = models.display().to_string()).await;
    let key = server.camera("cam-img").await;
    let other = server.camera("cam-other").await;
    let res = post_image(&server, "cam-img", &other, "image/jpeg", vec![0xff, 0xd8]).await;
    assert_eq!(res.status(), 403, "another camera's key");
    let res = post_image(&server, "cam-img", &key, "image/gif", vec![1, 2]).await;
    assert_eq!(res.status(), 415);
    let res = post_image(
        &server,
        "cam-img",
        &key,
        "image/jpeg",
        b"not a jpeg".to_vec(),
    )
    .await;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unreadable_image");
    assert_eq!(server.state.store.count_reads().await.unwrap(), 0);
    server.stop().await;
}

/// A frame posted by a camera is read with the agency's `plate_regions`: the stored read
/// names New York's layout, not Brazil's (the first such layout in the table).
#[tokio::test]
async fn image_reads_follow_the_configured_plate_regions() {
    let vision = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vision");
    let models = vision.join("../../models");
    if !models.join("manifest.toml").is_file() {
        eprintln!("skipping: no models in {}", models.display());
        return;
    }
    let frame = std::fs::read(vision.join("tests/fixtures/plate_scene.png")).unwrap();
    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let server = TestServer::start_with(db, |c| {
        c.models_dir = models.display().to_string();
        c.plate_regions = vec!["US-NY".into()];
    })
    .await;
    let key = server.camera("cam-img").await;
    // Declared as a JPEG by a mislabelling camera: stored as the PNG it is (issue 27, 13).
    let res = post_image(&server, "cam-img", &key, "image/jpeg", frame).await;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    // The reply says what was read, where, and how sure.
    let read = &body["reads"][0];
    assert_eq!(read["plate"], "ABC1234", "{body}");
    assert_eq!(read["region"], "US-NY", "{body}");
    assert!(read["confidence"].as_f64().unwrap() > 0.0, "{body}");
    assert!(read["plate_box"]["w"].as_u64().unwrap() > 0, "{body}");
    let reads = server.stored_reads("ABC1234").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].details.region.as_deref(), Some("US-NY"));
    let image = server
        .state
        .store
        .get_image(
            &server.state.keys,
            &server.state.config.image_dir(),
            reads[0].image_id.unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(image.content_type, "image/png");
    server.stop().await;
}

/// Webhooks leave over TLS, trusting the agency's own CA from `outbound_ca_file`.
#[tokio::test]
async fn hits_reach_an_https_webhook_signed_by_the_agency_ca() {
    use std::sync::{Arc, Mutex};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let server_tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));
    let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push(body.to_vec());
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!(
        "https://localhost:{}/hook",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake; that is fine.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(
                    hyper_util::rt::TokioIo::new(tls),
                    hyper_util::service::TowerToHyperService::new(app),
                )
                .await;
            });
        }
    });

    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let ca_path = db.path().join("agency-ca.pem");
    std::fs::write(&ca_path, cert.cert.pem()).unwrap();
    let server = TestServer::start_with(db, |c| {
        c.outbound_ca_file = Some(ca_path.clone());
        c.webhooks = vec![candor_server::config::WebhookConfig {
            url: hook_url.clone(),
            secret: "tls-secret".into(),
        }];
    })
    .await;
    let key = server.camera("cam-tls").await;
    server.hot_list("stolen", "V", "plate\nTLS1234\n").await;
    let (s, _) = server
        .post_json("/api/v1/reads", &key, &batch("tls-1", &["TLS1234"]))
        .await;
    assert_eq!(s, 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while received.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered over TLS");
    let alert: serde_json::Value = serde_json::from_slice(&got[0]).unwrap();
    assert_eq!(alert["listed_plate"], "TLS1234");
    server.stop().await;
}

/// Image recognitions are capped (issue 27, item 5): with every place taken and no queue,
/// an upload is answered 503 `recognition_busy` with `Retry-After`, before it is decoded.
#[tokio::test]
async fn image_uploads_beyond_the_recognition_queue_get_503_with_retry_after() {
    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let server = TestServer::start_with(db, |c| {
        c.ingest.recognitions_at_once = 1;
        c.ingest.recognition_queue = 0;
    })
    .await;
    let key = server.camera("cam-busy").await;
    let held = server.state.recognitions.enter().await.unwrap();
    let png_start = b"\x89PNG\r\n\x1a\n not a whole image".to_vec();
    let res = post_image(&server, "cam-busy", &key, "image/png", png_start.clone()).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "recognition_busy");
    drop(held);
    // With the place free the same upload gets as far as decoding.
    let res = post_image(&server, "cam-busy", &key, "image/png", png_start).await;
    assert_ne!(res.status(), 503);
    server.stop().await;
}

/// Issue 26: the real OpenALPR agent starts its `alpr_group` JSON with a UTF-8 byte order
/// mark, and so do CSV files saved by Windows tools. Both are accepted, as is every JSON body.
#[tokio::test]
async fn a_byte_order_mark_is_accepted_on_json_and_csv() {
    for server in TestServer::start_all().await {
        let key = server.camera("cam-bom").await;
        let now = chrono::Utc::now().timestamp_millis();
        let group = json!({
            "version": 2, "data_type": "alpr_group", "epoch_start": now - 2000, "epoch_end": now,
            "camera_id": 1, "agent_uid": "X", "uuids": ["bom-1"], "best_uuid": "bom-1",
            "best_plate_number": "7BOM123", "best_confidence": 91.0, "best_region": "ca",
            "gps_latitude": 40.5, "gps_longitude": -74.1, "candidates": []
        });
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(group.to_string().as_bytes());
        let res = server
            .client
            .post(server.url("/api/v1/openalpr"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let out: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{out}");
        assert_eq!(server.stored_reads("7BOM123").await.len(), 1);

        // Native JSON too.
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(batch("bom-native", &["8BOM456"]).to_string().as_bytes());
        let res = server
            .client
            .post(server.url("/api/v1/reads"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);

        // A CSV hot list with a BOM before its header.
        let pm = server.create_user("pm1", "program_manager").await;
        let s = server.session_for(&pm).await;
        let res = server
            .client
            .post(
                server.url("/api/v1/hotlists/import?name=State&source=state&format=csv&hit_type=V"),
            )
            .bearer_auth(&s.token)
            .header("content-type", "text/csv")
            .body("\u{FEFF}plate,state,reason\r\nBOM999,CA,stolen\r\n")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let out: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{out}");
        assert_eq!(out["list"]["entry_count"], 1, "{out}");
        server.stop().await;
    }
}

/// Issue 26: the `alpr_group` payload's plate and vehicle crops, GPS and vehicle attributes
/// are kept, and the alert card shows them.
#[tokio::test]
async fn openalpr_group_keeps_crops_gps_and_vehicle() {
    use base64::Engine;
    for server in TestServer::start_all().await {
        let key = server.camera("cam-grp").await;
        server
            .hot_list("stolen", "V", "plate,state,reason\n6CRP777,CA,stolen\n")
            .await;
        let jpeg = |tag: &[u8]| {
            let mut b = b"\xFF\xD8\xFF\xE0".to_vec();
            b.extend_from_slice(tag);
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let now = chrono::Utc::now().timestamp_millis();
        let group = json!({
            "version": 2, "data_type": "alpr_group", "epoch_start": now - 2000, "epoch_end": now,
            "uuids": ["grp-1"], "best_uuid": "grp-1", "best_plate_number": "6CRP777",
            "best_confidence": 92.0, "best_region": "ca", "gps_latitude": 40.5, "gps_longitude": -74.1,
            "best_plate_jpeg": jpeg(b"plate"), "vehicle_crop_jpeg": jpeg(b"vehicle"),
            "vehicle": {"color": [{"name": "silver-gray", "confidence": 70.0}],
                        "make": [{"name": "toyota", "confidence": 60.0}],
                        "make_model": [{"name": "toyota_camry", "confidence": 50.0}],
                        "body_type": [{"name": "sedan-standard", "confidence": 80.0}],
                        "year": [{"name": "2010-2014", "confidence": 40.0}]}
        });
        let (status, out) = server.post_json("/api/v1/openalpr", &key, &group).await;
        assert_eq!((status, &out["hits"]), (201, &json!(1)), "{out}");
        let read = &server.stored_reads("6CRP777").await[0];
        let d = &read.details;
        assert_eq!((d.latitude, d.longitude), (Some(40.5), Some(-74.1)));
        assert_eq!(d.vehicle_model.as_deref(), Some("toyota_camry"));
        assert_eq!(d.vehicle_body.as_deref(), Some("sedan-standard"));
        assert_eq!(d.vehicle_year.as_deref(), Some("2010-2014"));
        let (vehicle, plate) = (read.image_id.unwrap(), d.plate_image_id.unwrap());
        let images = (
            server
                .state
                .store
                .get_image(
                    &server.state.keys,
                    &server.state.config.image_dir(),
                    vehicle,
                )
                .await
                .unwrap()
                .unwrap(),
            server
                .state
                .store
                .get_image(&server.state.keys, &server.state.config.image_dir(), plate)
                .await
                .unwrap()
                .unwrap(),
        );
        assert!(images.0.bytes.ends_with(b"vehicle") && images.1.bytes.ends_with(b"plate"));

        // The alert card shows them to an officer.
        let officer = server.create_user("officer1", "officer").await;
        let s = server.session_for(&officer).await;
        let hits = server
            .state
            .store
            .hits_for_reads(&server.state.keys, &[read.id])
            .await
            .unwrap();
        let card = server
            .client
            .get(server.url(&format!("/console/alerts/hits/{}", hits[0].id)))
            .header("cookie", format!("candor_session={}", s.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            card.contains("silver-gray toyota toyota_camry 2010-2014, sedan-standard"),
            "{card}"
        );
        assert!(card.contains("40.50000, -74.10000"), "{card}");
        assert!(
            card.contains(&format!("/console/reads/{}/plate?hit=", read.id)),
            "{card}"
        );
        server.stop().await;
    }
}
