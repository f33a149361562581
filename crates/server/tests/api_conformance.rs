//! The API against its own OpenAPI document, driven by schemathesis: it generates requests
//! from the served document, valid and invalid, and checks every answer — no server error,
//! only documented status codes and content types, bodies that fit their schemas. A bounded
//! number of examples per operation keeps the run to a minute or two.
//!
//! It runs `schemathesis` from `PATH`, or the program named by `CANDOR_SCHEMATHESIS`
//! (`.ci/run` installs it: `pip install schemathesis==4.32.5`).

mod common;

use candor_store::testing::TestDb;
use common::TestServer;

/// Examples generated per operation.
const EXAMPLES: &str = "8";

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_as_its_document_says() {
    let server = TestServer::start(TestDb::sqlite().unwrap()).await;
    // An administrator reaches most routes; the rest must refuse as documented.
    let admin = server.create_user("conformance", "administrator").await;
    server.acknowledge_policy(&admin).await;
    let session = server.session_for(&admin).await;
    let program = std::env::var("CANDOR_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let args = vec![
        "run".to_string(),
        server.url("/api/openapi.json"),
        "--url".into(),
        server.url(""),
        "--header".into(),
        format!("Authorization: Bearer {}", session.token),
        // Signing out would end the run's own session.
        "--exclude-path".into(),
        "/api/v1/session".into(),
        "--checks".into(),
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance".into(),
        "--max-examples".into(),
        EXAMPLES.into(),
        "--seed".into(),
        "1".into(),
        // Nothing kept between runs (or written into the source tree): each run stands alone.
        "--generation-database".into(),
        "none".into(),
        "--workers".into(),
        "1".into(),
        "--no-color".into(),
    ];
    // schemathesis keeps a cache in its working directory: a scratch one, not the source tree.
    let scratch = tempfile::tempdir().unwrap();
    let run = {
        let (program, dir) = (program.clone(), scratch.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(&program)
                .args(&args)
                .current_dir(dir)
                .output()
        })
        .await
        .unwrap()
    };
    let out = run.unwrap_or_else(|e| {
        panic!(
            "cannot run {program:?} ({e}): install it with `pip install schemathesis==4.32.5` \
             (or name it in CANDOR_SCHEMATHESIS); .ci/run does this"
        )
    });
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    server.stop().await;
}
