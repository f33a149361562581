//! Response headers and camera keys (issue 27, item 13): `nosniff` on every answer, a
//! Content-Security-Policy on the public page, and camera keys in headers only.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn every_answer_says_nosniff_and_the_public_page_has_a_csp() {
    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let server = TestServer::start(db).await;
    for path in [
        "/health",
        "/transparency",
        "/transparency.json",
        "/api/v1/audit",
        "/login",
    ] {
        let res = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(
            res.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path} ({})",
            res.status()
        );
    }
    let res = server
        .client
        .get(server.url("/transparency"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no scripts at all: {csp}");
    server.stop().await;
}

fn one_read() -> serde_json::Value {
    json!({"idempotency_key": "url-key-test", "reads": [{"plate": "KEY1234", "captured_at": common::at(-5), "confidence": 0.9}]})
}

#[tokio::test]
async fn a_camera_key_in_the_url_is_refused() {
    for server in TestServer::start_all().await {
        let key = server.camera("cam-url").await;
        let res = server
            .client
            .post(server.url(&format!("/api/v1/reads?api_key={key}")))
            .json(&one_read())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("api_key_in_url")),
            "{body}"
        );
        let res = server
            .client
            .post(server.url("/api/v1/openalpr?api_key=x"))
            .header("content-type", "application/json")
            .body(r#"{"data_type": "heartbeat"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        // In a header it is accepted.
        let res = server
            .client
            .post(server.url("/api/v1/reads"))
            .header("x-api-key", &key)
            .json(&one_read())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        server.stop().await;
    }
}

#[tokio::test]
async fn the_openalpr_transition_accepts_a_key_in_its_url_only() {
    let db = candor_store::testing::TestDb::sqlite().unwrap();
    let server = TestServer::start_with(db, |c| c.ingest.allow_key_in_url = true).await;
    let key = server.camera("agent-old").await;
    let res = server
        .client
        .post(server.url(&format!("/api/v1/openalpr?api_key={key}")))
        .header("content-type", "application/json")
        .body(r#"{"data_type": "heartbeat"}"#)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    // Not on the other routes.
    let res = server
        .client
        .post(server.url(&format!("/api/v1/reads?api_key={key}")))
        .json(&one_read())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    server.stop().await;
}
