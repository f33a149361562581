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
