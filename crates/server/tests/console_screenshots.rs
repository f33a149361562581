//! Regenerates the console screenshots in `docs/screenshots/`:
//!
//! ```text
//! cargo test -p candor-server --test console_screenshots -- --ignored
//! ```
//!
//! Seeds a server with a camera, a hot list, reads and a hit, then photographs the main
//! pages in headless Chromium at a laptop's window size.

mod common;

use candor_store::testing::TestDb;
use common::browser::Browser;
use common::{TestServer, at};
use serde_json::json;

fn shot_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/screenshots")
        .join(format!("{name}.png"))
}

async fn save(b: &Browser, name: &str) {
    let png = b.screenshot().await;
    std::fs::create_dir_all(shot_path(name).parent().unwrap()).unwrap();
    std::fs::write(shot_path(name), png).unwrap();
}

#[tokio::test]
#[ignore = "writes docs/screenshots; run with --ignored"]
async fn console_screenshots() {
    let server = TestServer::start_with(TestDb::sqlite().unwrap(), |c| {
        c.agency_name = "Springfield Police Department".into();
    })
    .await;
    let officer = server.create_user("o.garcia", "officer").await;
    let investigator = server.create_user("i.chen", "investigator").await;
    let supervisor = server.create_user("s.okafor", "supervisor").await;
    let auditor = server.create_user("a.lind", "auditor").await;
    let manager = server.create_user("p.ito", "program_manager").await;
    let admin = server.create_user("d.admin", "administrator").await;
    let key = server.camera("main-st-3rd").await;
    server
        .hot_list(
            "NCIC stolen vehicles",
            "V",
            "plate,state,reason,year,make,model,colour\nABC1234,CA,stolen vehicle (NCIC V),2018,Toyota,Camry,silver\n",
        )
        .await;
    let reads = json!({"idempotency_key": "shots-1", "reads": [
        {"plate": "XYZ9876", "confidence": 0.91, "captured_at": at(-7200)},
        {"plate": "XYZ9876", "confidence": 0.87, "captured_at": at(-3600)},
    ]});
    server.post_json("/api/v1/reads", &key, &reads).await;

    let b = Browser::start().await;
    b.open(&server, "/login").await;
    save(&b, "login").await;

    b.sign_in(&server, &officer).await;
    b.wait_for_text("#live-status", "Live").await;
    server
        .post_json(
            "/api/v1/reads",
            &key,
            &json!({"idempotency_key": "shots-2", "reads": [{"plate": "ABC1234", "confidence": 0.94, "captured_at": at(-1)}]}),
        )
        .await;
    b.wait_for_text("article.hit", "ABC1234").await;
    save(&b, "alerts").await;
    b.click(".signout button").await;

    b.sign_in(&server, &investigator).await;
    b.open(&server, "/console/search").await;
    let policy = candor_server::routes::policy::policy_in_force(&server.state)
        .await
        .unwrap();
    b.set_value("#category", &policy.document.purpose_categories[0].code)
        .await;
    b.fill("#case_number", &policy.document.case_number_example)
        .await;
    b.fill("#free_text", "vehicle seen leaving a burglary on Elm St")
        .await;
    b.fill("#plate", "XYZ9876").await;
    b.click("#run-search").await;
    b.wait_for_text("#results", "result").await;
    save(&b, "search").await;
    b.open(&server, "/console/hotlists").await;
    b.fill("#hp-plate", "HOT555").await;
    b.fill("#hp-case", &policy.document.case_number_example)
        .await;
    b.fill("#hp-reason", "suspect vehicle in an armed robbery")
        .await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    b.set_value("#hp-expires", &expires).await;
    b.click("#enter-plate").await;
    b.wait_for_text("#plate-result", "entered").await;
    b.click(".signout button").await;

    b.sign_in(&server, &supervisor).await;
    b.open(&server, "/console/hotlists").await;
    save(&b, "hotlists").await;
    b.click(".signout button").await;

    b.sign_in(&server, &auditor).await;
    b.open(&server, "/console/audit").await;
    b.click("#verify-chain").await;
    b.wait_for_text("#verify-result", "intact").await;
    save(&b, "audit").await;
    b.open(&server, "/console/audit/reviews").await;
    save(&b, "reviews").await;
    b.click(".signout button").await;

    b.sign_in(&server, &manager).await;
    b.open(&server, "/console/people").await;
    save(&b, "people").await;
    b.open(&server, "/console/policy").await;
    save(&b, "policy").await;
    b.click(".signout button").await;

    b.sign_in(&server, &admin).await;
    // The camera has a stream that nothing answers yet: its row shows the watch retrying.
    server
        .state
        .store
        .set_camera_stream(
            &server.state.keys,
            "main-st-3rd",
            Some(candor_store::cameras::StreamAddressText {
                full: "rtsp://viewer:secret@127.0.0.1:1/stream1",
                shown: "rtsp://127.0.0.1:1/stream1",
            }),
        )
        .await
        .unwrap();
    candor_server::streams::sync(&server.state).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    b.open(&server, "/console/cameras").await;
    save(&b, "cameras").await;
    b.stop().await;
    server.stop().await;
}
