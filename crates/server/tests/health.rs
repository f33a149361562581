mod common;

use common::TestServer;

#[tokio::test]
async fn health_and_openapi_answer_on_every_backend() {
    for server in TestServer::start_all().await {
        let res = server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{:?}", server.db.backend);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");

        let res = server
            .client
            .get(server.url("/api/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let doc: serde_json::Value = res.json().await.unwrap();
        assert!(doc["paths"]["/health"].is_object(), "{doc}");

        let res = server
            .client
            .get(server.url("/no/such/route"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        server.stop().await;
    }
}

/// Every API error answers in the JSON envelope `{"error": {"code", "message"}}`, the
/// framework's own rejections included: a path or query that does not parse, a body that is
/// not JSON, an unknown route, a method a route does not take.
#[tokio::test]
async fn every_api_error_is_in_the_json_envelope() {
    for server in TestServer::start_all().await {
        let officer = server.create_user("officer-e", "officer").await;
        server.acknowledge_policy(&officer).await;
        server.train_and_grant(&officer).await;
        let session = server.session_for(&officer).await;
        let cases: [(reqwest::Method, &str, Option<&str>, u16, &str); 5] = [
            (
                reqwest::Method::GET,
                "/api/v1/hits/not-a-number",
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/hits?from=yesterday",
                None,
                400,
                "bad_request",
            ),
            (
                reqwest::Method::GET,
                "/api/v1/no/such/route",
                None,
                404,
                "not_found",
            ),
            (
                reqwest::Method::DELETE,
                "/api/v1/hits",
                None,
                405,
                "method_not_allowed",
            ),
            (
                reqwest::Method::POST,
                "/api/v1/hits/1/disposition",
                Some("{not json"),
                400,
                "",
            ),
        ];
        for (method, path, body, status, code) in cases {
            let mut req = server
                .client
                .request(method.clone(), server.url(path))
                .bearer_auth(&session.token);
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), status, "{method} {path}");
            let kind = res.headers()["content-type"].to_str().unwrap().to_string();
            assert!(
                kind.starts_with("application/json"),
                "{method} {path}: {kind}"
            );
            let answer: serde_json::Value = res.json().await.unwrap();
            let got = answer["error"]["code"].as_str().unwrap_or_default();
            assert!(
                !answer["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            );
            if !code.is_empty() {
                assert_eq!(got, code, "{method} {path}: {answer}");
            }
        }
        server.stop().await;
    }
}
