//! Camera streams through the server, on every backend: a stream address is kept sealed and
//! shown without its credentials; a camera without approval is not watched; an approved
//! camera's stream gives one stored read per passing car, through the same ingest (hot-list
//! hit and alert included), with its best frame and plate crop.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use candor_stream::clip::{self, ClipSpec};
use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn clip_file(dir: &Path, cars: usize, seed: u64) -> (std::path::PathBuf, ClipSpec) {
    let background = clip::background();
    let spec = ClipSpec::random(cars, seed);
    let path = dir.join("clip.mp4");
    clip::write(&spec, &background, &path).expect("FFmpeg encodes the clip");
    (path, spec)
}

async fn admin_session(server: &TestServer) -> common::TestSession {
    let admin = server.create_user("streams-admin", "administrator").await;
    server.session_for(&admin).await
}

async fn put_stream(
    server: &TestServer,
    session: &common::TestSession,
    camera: &str,
    address: &str,
) -> reqwest::Response {
    server
        .client
        .put(server.url(&format!("/api/v1/cameras/{camera}/stream")))
        .bearer_auth(&session.token)
        .json(&json!({ "address": address }))
        .send()
        .await
        .unwrap()
}

async fn stream_view(server: &TestServer, session: &common::TestSession, camera: &str) -> Value {
    server
        .client
        .get(server.url(&format!("/api/v1/cameras/{camera}/stream")))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stream_address_is_sealed_and_shown_without_its_password() {
    for server in TestServer::start_all().await {
        let session = admin_session(&server).await;
        server.camera("cam-rtsp").await;
        let res = put_stream(
            &server,
            &session,
            "cam-rtsp",
            "rtsp://admin:s3cret-pass@127.0.0.1:1/stream1",
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let camera: Value = res.json().await.unwrap();
        assert_eq!(camera["stream"], "rtsp://127.0.0.1:1/stream1");
        // Nowhere in clear: not in the camera row, not in the audit log.
        let row: (Option<String>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT stream_shown, stream_sealed FROM cameras WHERE id = 'cam-rtsp'")
                .fetch_one(server.state.store.pool())
                .await
                .unwrap();
        assert_eq!(row.0.as_deref(), Some("rtsp://127.0.0.1:1/stream1"));
        let sealed = row.1.unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"s3cret-pas"));
        let audit = server.state.store.audit_records(0, 1000).await.unwrap();
        let set = audit
            .iter()
            .find(|r| r.entry.action == "camera.stream.set")
            .expect("setting a stream is audited");
        let details = set.entry.details.to_string();
        assert!(details.contains("rtsp://127.0.0.1:1/stream1"), "{details}");
        assert!(!details.contains("s3cret"), "{details}");
        // The watcher gets the whole address back.
        let streams = server
            .state
            .store
            .camera_streams(&server.state.keys)
            .await
            .unwrap();
        assert!(streams[0].1.contains("admin:s3cret-pass@"));
        // A bad address is refused with the reason, and a file is not a stream by default.
        let res = put_stream(&server, &session, "cam-rtsp", "ftp://cam/x").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ftp://"),
            "{body}"
        );
        let res = put_stream(&server, &session, "cam-rtsp", "/etc/hostname").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("allow_files"),
            "{body}"
        );
        // Removing it stops the watch and leaves nothing sealed behind.
        let res = server
            .client
            .delete(server.url("/api/v1/cameras/cam-rtsp/stream"))
            .bearer_auth(&session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let camera: Value = res.json().await.unwrap();
        assert!(camera["stream"].is_null());
        assert!(
            server
                .state
                .store
                .camera_streams(&server.state.keys)
                .await
                .unwrap()
                .is_empty()
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn an_approved_cameras_stream_gives_one_read_per_car_and_an_unapproved_one_is_not_watched() {
    let dir = tempfile::tempdir().unwrap();
    let (clip, spec) = clip_file(dir.path(), 3, 21);
    for server in TestServer::start_all_with(|c| c.streams.allow_files = true).await {
        let session = admin_session(&server).await;
        // A camera whose approval record is incomplete is not watched.
        server
            .state
            .store
            .create_camera(&common::new_camera(
                "cam-unapproved",
                candor_store::cameras::Approval::default(),
            ))
            .await
            .unwrap();
        let res = put_stream(&server, &session, "cam-unapproved", clip.to_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::OK);
        // The second car's plate is on a hot list.
        server
            .hot_list(
                "Stolen",
                "V",
                &format!("plate,state\n{},NY\n", spec.plates[1]),
            )
            .await;
        server.camera("cam-street").await;
        let res = put_stream(&server, &session, "cam-street", clip.to_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::OK);
        candor_server::streams::sync(&server.state).await.unwrap();
        let view = stream_view(&server, &session, "cam-unapproved").await;
        assert_eq!(view["watched"], false, "{view}");
        assert!(
            view["not_watched_because"]
                .as_str()
                .unwrap()
                .contains("not approved"),
            "{view}"
        );
        // The file stands in for a camera: read at its own speed, to its end.
        let start = Instant::now();
        loop {
            let view = stream_view(&server, &session, "cam-street").await;
            if view["not_watched_because"].is_string() && view["frames_decoded"].as_u64() > Some(0)
            {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "{view}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let view = stream_view(&server, &session, "cam-street").await;
        eprintln!("{view}");
        assert_eq!(view["passes"], 3, "{view}");
        // One read per car, each with its pass, frame and crop; the hit raised an alert.
        let mut right = 0;
        for plate in &spec.plates {
            let reads = server.stored_reads(plate).await;
            assert!(reads.len() <= 1, "{plate}: {reads:?}");
            if let Some(read) = reads.first() {
                right += 1;
                assert_eq!(read.camera_id, "cam-street");
                let pass = read
                    .details
                    .pass
                    .as_ref()
                    .expect("a stream read has its pass");
                assert!(pass.sightings >= 2 && pass.first_seen <= pass.last_seen);
                assert!(read.image_id.is_some() && read.details.plate_image_id.is_some());
                // The colour Candor named, with how sure it was.
                assert!(read.details.vehicle_color.is_some(), "{read:?}");
                let sure = read.details.vehicle_color_confidence.unwrap();
                assert!((0.0..=1.0).contains(&sure));
            }
        }
        assert!(right >= 2, "{right} of 3 cars read right");
        // The listed plate's read (when read right) is a hit, like any other read.
        if let Some(read) = server.stored_reads(&spec.plates[1]).await.first() {
            assert!(read.is_hit, "{read:?}");
        }
        // Nothing came from the camera without approval.
        let unapproved: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM reads WHERE camera_id = 'cam-unapproved'")
                .fetch_one(server.state.store.pool())
                .await
                .unwrap();
        assert_eq!(unapproved, 0);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_graceful_stop_stores_every_pass_the_watch_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let (clip, _spec) = clip_file(dir.path(), 4, 8);
    for server in TestServer::start_all_with(|c| c.streams.allow_files = true).await {
        let session = admin_session(&server).await;
        server.camera("cam-stop").await;
        let res = put_stream(&server, &session, "cam-stop", clip.to_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::OK);
        candor_server::streams::sync(&server.state).await.unwrap();
        // Stop in the middle of the clip, after the first car and while another crosses.
        let start = Instant::now();
        while stream_view(&server, &session, "cam-stop").await["passes"] == 0 {
            assert!(start.elapsed() < Duration::from_secs(60));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let handed_over = candor_server::streams::stop_all(&server.state).await;
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM reads WHERE camera_id = 'cam-stop'")
                .fetch_one(server.state.store.pool())
                .await
                .unwrap();
        assert!(handed_over >= 2, "{handed_over}");
        assert_eq!(stored, handed_over as i64);
        server.stop().await;
    }
}
