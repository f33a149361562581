//! A read, its scene image and its plate crop open by id only on grounds the person names and
//! Candor checks: a search of theirs that listed the read, or a hit they may see. A made-up
//! search number, someone else's search, a search that did not list the read, or no grounds
//! at all open nothing (security review, issue 27).

mod common;

use candor_server::AppState;
use common::{TestServer, TestSession};
use serde_json::{Value, json};

/// A 200×100 PNG scene with a white plate at (50, 40, 80×20).
fn scene_png() -> Vec<u8> {
    let mut scene = image::RgbImage::from_pixel(200, 100, image::Rgb([90, 90, 90]));
    for y in 40..60 {
        for x in 50..130 {
            scene.put_pixel(x, y, image::Rgb([250, 250, 250]));
        }
    }
    let mut png = std::io::Cursor::new(Vec::new());
    scene.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

/// One read of `plate` made from its own stored image; the read id, image id and the hit's
/// id when the read hit.
async fn read_with_image(state: &AppState, plate: &str, now: i64) -> (i64, i64, Option<i64>) {
    let image_id = state
        .store
        .store_image(
            &state.keys,
            &state.config.image_dir(),
            "cam-ra",
            now,
            86_400,
            "image/png",
            &scene_png(),
        )
        .await
        .unwrap();
    let camera = state.store.get_camera("cam-ra").await.unwrap().unwrap();
    let read = candor_server::ingest::IncomingRead {
        plate: plate.into(),
        confidence: 0.9,
        captured_at: now,
        image_id: Some(image_id),
        plate_box: Some(candor_store::reads::PlateBox {
            x: 50,
            y: 40,
            w: 80,
            h: 20,
        }),
        ..Default::default()
    };
    let outcome =
        candor_server::ingest::accept(state, &camera, plate, plate.as_bytes(), vec![read])
            .await
            .unwrap();
    let hit = outcome.hits.first().map(|h| h.hit_id);
    let read_id = match outcome.hits.first() {
        Some(h) => h.read_id,
        None => {
            state
                .store
                .reads_by_plate(&state.keys, plate, 0, i64::MAX, 1)
                .await
                .unwrap()[0]
                .id
        }
    };
    (read_id, image_id, hit)
}

fn purpose(case: &str) -> Value {
    json!({"category": "property-crime", "case_number": case, "free_text": "burglary on Elm St, vehicle seen leaving"})
}

/// Searches `plate` as `session`; the search's audit sequence number and the read ids listed.
async fn search(server: &TestServer, s: &TestSession, plate: &str, case: &str) -> (u64, Vec<i64>) {
    let now = candor_store::now_ms();
    let (status, answer) = server
        .call(
            s,
            reqwest::Method::POST,
            "/api/v1/search/reads",
            Some(&json!({"plate": plate, "from": now - 86_400_000, "to": now + 60_000, "purpose": purpose(case)})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let ids = answer["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    (answer["audit_seq"].as_u64().unwrap(), ids)
}

/// GETs a console path with the session's cookie: status and body text.
async fn get(server: &TestServer, s: &TestSession, path: &str) -> (u16, String) {
    let res = TestServer::no_redirect_client()
        .get(server.url(path))
        .header("cookie", format!("candor_session={}", s.token))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.bytes().await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The newest audit record of `action`.
async fn last_record(server: &TestServer, action: &str) -> candor_audit::AuditRecord {
    server
        .state
        .store
        .search_audit(&candor_store::audit_log::AuditFilter {
            action_prefix: Some(action.into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {action} record"))
}

fn refused(status: u16) -> bool {
    status == 403 || status == 404 || status == 400
}

#[tokio::test]
async fn a_read_opens_only_from_a_search_of_this_user_that_listed_it() {
    for server in TestServer::start_all().await {
        server.camera("cam-ra").await;
        let state = &server.state;
        let now = candor_store::now_ms();
        let (listed, listed_image, _) = read_with_image(state, "ABC123", now).await;
        let (other, other_image, _) = read_with_image(state, "XYZ789", now).await;
        let ivy = server.create_user("ivy", "investigator").await;
        let ian = server.create_user("ian", "investigator").await;
        let ivy_s = server.session_for(&ivy).await;
        let ian_s = server.session_for(&ian).await;
        let (ivy_search, ivy_ids) = search(&server, &ivy_s, "ABC123", "2026-000123").await;
        assert_eq!(ivy_ids, vec![listed]);
        let (ian_search, ian_ids) = search(&server, &ian_s, "XYZ789", "2026-000124").await;
        assert_eq!(ian_ids, vec![other]);

        // A made-up search number opens nothing.
        let (status, body) = get(
            &server,
            &ivy_s,
            &format!("/console/reads/{listed}?search=424242"),
        )
        .await;
        assert!(refused(status), "made-up search: {status}");
        assert!(
            !body.contains("ABC123"),
            "no plate data in a refusal: {body}"
        );
        // Nor does another person's search, even one that listed the read.
        let (status, body) = get(
            &server,
            &ivy_s,
            &format!("/console/reads/{other}?search={ian_search}"),
        )
        .await;
        assert!(refused(status), "someone else's search: {status}");
        assert!(!body.contains("XYZ789"), "{body}");
        // Nor one of hers that did not list it.
        let (status, body) = get(
            &server,
            &ivy_s,
            &format!("/console/reads/{other}?search={ivy_search}"),
        )
        .await;
        assert!(
            refused(status),
            "a search that did not list the read: {status}"
        );
        assert!(!body.contains("XYZ789"), "{body}");
        // Nor no search at all.
        let (status, _) = get(&server, &ivy_s, &format!("/console/reads/{listed}")).await;
        assert!(refused(status), "no grounds: {status}");

        // Her own search that listed it opens it, and the view names the search and purpose.
        let (status, body) = get(
            &server,
            &ivy_s,
            &format!("/console/reads/{listed}?search={ivy_search}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("ABC123"));
        let view = last_record(&server, "read.view").await;
        assert_eq!(view.entry.target, format!("read:{listed}"));
        assert_eq!(view.entry.details["search_seq"], ivy_search);
        assert_eq!(
            view.entry.details["purpose"]["case_number"], "2026-000123",
            "{}",
            view.entry.details
        );
        assert_eq!(view.entry.details["purpose"]["category"], "property-crime");

        // Images follow the same rule: the listed read's image opens from her search ...
        let (status, _) = get(
            &server,
            &ivy_s,
            &format!("/console/images/{listed_image}?search={ivy_search}"),
        )
        .await;
        assert_eq!(status, 200);
        let view = last_record(&server, "image.view").await;
        assert_eq!(view.entry.details["search_seq"], ivy_search);
        assert_eq!(view.entry.details["purpose"]["case_number"], "2026-000123");
        // ... and the other read's image does not, by her search, his search or by id alone.
        for path in [
            format!("/console/images/{other_image}"),
            format!("/console/images/{other_image}?search={ivy_search}"),
            format!("/console/images/{other_image}?search={ian_search}"),
            format!("/console/reads/{other}/plate?search={ivy_search}"),
        ] {
            let (status, _) = get(&server, &ivy_s, &path).await;
            assert!(refused(status), "{path}: {status}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn images_and_plate_crops_open_only_for_hits_or_listed_reads() {
    for server in TestServer::start_all().await {
        server.camera("cam-ra").await;
        server.hot_list("stolen", "V", "plate\nHIT111\n").await;
        let state = &server.state;
        let now = candor_store::now_ms();
        let (hit_read, hit_image, hit) = read_with_image(state, "HIT111", now).await;
        let hit = hit.expect("HIT111 is on the hot list");
        let (plain_read, plain_image, none) = read_with_image(state, "QRS456", now).await;
        assert!(none.is_none());
        let olive = server.create_user("olive", "officer").await;
        let s = server.session_for(&olive).await;

        // A read that never hit and was never listed: no image, no crop, by id alone or by
        // naming a hit on another read.
        for path in [
            format!("/console/images/{plain_image}"),
            format!("/console/reads/{plain_read}/plate"),
            format!("/console/images/{plain_image}?hit={hit}"),
            format!("/console/reads/{plain_read}/plate?hit={hit}"),
        ] {
            let (status, _) = get(&server, &s, &path).await;
            assert!(refused(status), "{path}: {status}");
        }

        // The hit's own image and crop open from the hit, as the alert card links them.
        let (status, page) = get(&server, &s, "/console/alerts").await;
        assert_eq!(status, 200);
        let image_link = format!("/console/images/{hit_image}?hit={hit}");
        let crop_link = format!("/console/reads/{hit_read}/plate?hit={hit}");
        assert!(page.contains(&image_link), "{page}");
        assert!(page.contains(&crop_link), "{page}");
        let (status, _) = get(&server, &s, &image_link).await;
        assert_eq!(status, 200);
        let view = last_record(&server, "image.view").await;
        assert_eq!(view.entry.details["hit_id"], hit);
        assert_eq!(view.entry.details["purpose"]["hit_type"], "V");
        let (status, _) = get(&server, &s, &crop_link).await;
        assert_eq!(status, 200);
        let view = last_record(&server, "image.view").await;
        assert_eq!(view.entry.details["part"], "plate");
        assert_eq!(view.entry.details["hit_id"], hit);
        server.stop().await;
    }
}
