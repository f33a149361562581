//! Person-facing ops routes end to end, signed in: cameras, hot-list import (and a rejected
//! import leaving the old list intact), ingest → hit → alert on the SSE stream →
//! disposition and action, user hot plates with supervisor approval, legal holds and purge,
//! and the retention in force: the published policy's, told and enforced alike.

mod common;

use common::{TestServer, TestSession, at};
use serde_json::json;

struct Client<'a> {
    server: &'a TestServer,
    session: TestSession,
}

impl Client<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<reqwest::Body>,
        ct: &str,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .server
            .client
            .request(method, self.server.url(path))
            .bearer_auth(&self.session.token);
        if let Some(b) = body {
            req = req.header("content-type", ct).body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }
    async fn post(&self, path: &str, v: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(v.to_string().into()),
            "application/json",
        )
        .await
    }
    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::GET, path, None, "").await
    }
    async fn put(&self, path: &str, v: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(v.to_string().into()),
            "application/json",
        )
        .await
    }
}

async fn signed_in<'a>(server: &'a TestServer, name: &str, role: &str) -> Client<'a> {
    let user = server.create_user(name, role).await;
    Client {
        server,
        session: server.session_for(&user).await,
    }
}

const NCIC: &str = "LPR EXTRACT 20261128\n\
V123456789LA057020020190509AB123456  CA2009MC2009YAMACYLMCBLK\n\
F000000042LA057020020200101XYZ789    TX2010PC2010FORDF15PUBLU\n";

#[tokio::test]
async fn cameras_hot_lists_alerts_and_verification() {
    for server in TestServer::start_all().await {
        let admin = signed_in(&server, "admin1", "administrator").await;
        let pm = signed_in(&server, "pm1", "program_manager").await;
        let officer = signed_in(&server, "officer1", "officer").await;

        // Unauthenticated and unauthorised calls are refused.
        let res = server
            .client
            .get(server.url("/api/v1/cameras"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let (s, _) = officer.get("/api/v1/cameras").await;
        assert_eq!(s, 403);

        // Cameras: an unapproved camera cannot send; completing the approval allows it.
        let cam = json!({"id": "cam-e2e", "name": "E2E", "type": "mobile", "location": "Unit 12",
            "direction": "forward", "justification": "patrol car", "approval": {}});
        let (s, created) = admin.post("/api/v1/cameras", cam.clone()).await;
        assert_eq!(s, 201, "{created}");
        assert_eq!(created["camera"]["approved"], false);
        let key = created["api_key"].as_str().unwrap().to_string();
        let (s, _) = admin.post("/api/v1/cameras", cam).await;
        assert_eq!(s, 409);
        let read = |key: &str, plate: &str| json!({"idempotency_key": key, "reads": [{"plate": plate, "confidence": 0.9, "captured_at": at(-1)}]});
        let (s, b) = server
            .post_json("/api/v1/reads", &key, &read("r0", "AB123456"))
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (403, Some("camera_not_approved"))
        );
        let (s, b) = admin
            .send(
                reqwest::Method::PATCH,
                "/api/v1/cameras/cam-e2e",
                Some(json!({"approval": {"consultation_date": "2026-01-10", "permit_reference": "P-1",
                    "approving_authority": "Council", "approval_date": "2026-02-01"}}).to_string().into()),
                "application/json",
            )
            .await;
        assert_eq!((s, &b["approved"]), (200, &json!(true)), "{b}");

        // Hot lists: a good NCIC import, then a bad re-import that changes nothing.
        let pm_ref = &pm;
        let import = |q: &str, body: &str| {
            let path = format!("/api/v1/hotlists/import?{q}");
            let body = body.to_string();
            async move {
                pm_ref
                    .send(
                        reqwest::Method::POST,
                        &path,
                        Some(body.into()),
                        "text/plain",
                    )
                    .await
            }
        };
        let (s, b) = import("name=NCIC&source=ncic&format=ncic&priority=1", NCIC).await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["list"]["entry_count"], 2);
        let (s, b) = import(
            "name=NCIC&source=ncic&format=ncic",
            "HEADER\nV12345678\nZ123456789LA057020020190509QQQ111    CA\n",
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (422, Some("import_rejected")),
            "{b}"
        );
        assert_eq!(b["report"]["errors"].as_array().unwrap().len(), 2);
        assert_eq!(b["report"]["errors"][0]["line"], 2);
        let (_, lists) = pm.get("/api/v1/hotlists").await;
        assert_eq!(
            (lists[0]["version"].clone(), lists[0]["entry_count"].clone()),
            (json!(1), json!(2)),
            "old list intact"
        );
        let (s, _) = pm
            .send(
                reqwest::Method::POST,
                "/api/v1/hotlists/import?name=X&source=ncic&format=ncic",
                Some("x".into()),
                "application/json",
            )
            .await;
        assert_eq!(s, 415);

        // Live stream: open it, ingest a hit, receive the alert.
        let mut stream = server
            .client
            .get(server.url("/api/v1/alerts/stream"))
            .bearer_auth(&officer.session.token)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        let (s, b) = server
            .post_json("/api/v1/reads", &key, &read("r2", "AB 123456"))
            .await;
        assert_eq!((s, b["hits"].clone()), (201, json!(1)), "{b}");
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !text.contains("event: hit") || !text.contains("\n\n") {
            let chunk = tokio::time::timeout_at(deadline, stream.chunk())
                .await
                .expect("alert in time")
                .unwrap()
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        let alert: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(
            (alert["plate"].as_str(), alert["listed_plate"].as_str()),
            (Some("AB123456"), Some("AB123456"))
        );
        assert_eq!(
            (alert["hit_type"].as_str(), alert["status"].as_str()),
            (Some("V"), Some("unverified"))
        );
        let hit_id = alert["hit_id"].as_i64().unwrap();

        // Verification: action before disposition is refused; then both are recorded.
        let (s, _) = officer
            .post(
                &format!("/api/v1/hits/{hit_id}/action"),
                json!({"action": "stop"}),
            )
            .await;
        assert_eq!(s, 409);
        let (s, _) = officer
            .post(
                &format!("/api/v1/hits/{hit_id}/disposition"),
                json!({"disposition": "maybe"}),
            )
            .await;
        assert_eq!(s, 400);
        let (s, h) = officer
            .post(
                &format!("/api/v1/hits/{hit_id}/disposition"),
                json!({"disposition": "correct_read", "note": "checked"}),
            )
            .await;
        assert_eq!((s, h["status"].as_str()), (200, Some("verified")), "{h}");
        let (s, h) = officer
            .post(
                &format!("/api/v1/hits/{hit_id}/action"),
                json!({"action": "arrest"}),
            )
            .await;
        assert_eq!((s, h["status"].as_str()), (200, Some("closed")));
        assert_eq!(h["disposition"]["by_username"], "officer1");
        let (_, unverified) = officer.get("/api/v1/hits?unverified=true").await;
        assert_eq!(unverified.as_array().unwrap().len(), 0);
        server.stop().await;
    }
}

#[tokio::test]
async fn user_hot_plates_need_supervisor_approval_and_holds_survive_purge() {
    for server in TestServer::start_all().await {
        let officer = signed_in(&server, "officer2", "officer").await;
        let supervisor = signed_in(&server, "super2", "supervisor").await;
        let pm = signed_in(&server, "pm2", "program_manager").await;
        let key = server.camera("cam-2").await;
        let expires = chrono::Utc::now().timestamp_millis() + 86_400_000;

        let (s, b) = officer
            .post("/api/v1/hotplates", json!({"plate": "usr777", "reason": "witness", "case_number": "", "expires_at": expires}))
            .await;
        assert_eq!(s, 422, "{b}");
        let (s, b) = officer
            .post("/api/v1/hotplates", json!({"plate": "usr777", "reason": "witness", "case_number": "C-1", "expires_at": expires + 90 * 86_400_000_i64}))
            .await;
        assert_eq!(s, 422, "expiry beyond the policy maximum: {b}");
        let (s, plate) = officer
            .post("/api/v1/hotplates", json!({"plate": "usr777", "reason": "witness", "case_number": "C-1", "expires_at": expires}))
            .await;
        assert_eq!(
            (s, plate["status"].as_str()),
            (201, Some("pending")),
            "{plate}"
        );
        let id = plate["id"].as_i64().unwrap();

        let read = |k: &str| json!({"idempotency_key": k, "reads": [{"plate": "USR777", "confidence": 0.8, "captured_at": at(-1)}]});
        let (_, b) = server.post_json("/api/v1/reads", &key, &read("u1")).await;
        assert_eq!(b["hits"], 0, "pending plates do not match");
        let (s, _) = officer
            .post(&format!("/api/v1/hotplates/{id}/approve"), json!({}))
            .await;
        assert_eq!(s, 403, "officers cannot approve");
        let (s, b) = supervisor
            .post(
                &format!("/api/v1/hotplates/{id}/approve"),
                json!({"note": "ok"}),
            )
            .await;
        assert_eq!((s, b["status"].as_str()), (200, Some("approved")), "{b}");
        let (_, b) = server.post_json("/api/v1/reads", &key, &read("u2")).await;
        assert_eq!(b["hits"], 1);

        // A legal hold keeps a read through the purge; releasing it lets the purge take it.
        let read_id = server.stored_reads("USR777").await[0].id;
        let (s, hold) = pm
            .post(
                "/api/v1/holds",
                json!({"read_id": read_id, "reason": "evidence", "case_number": "C-1"}),
            )
            .await;
        assert_eq!(s, 201, "{hold}");
        let (s, r) = pm.post("/api/v1/purge", json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert!(r["signature"].as_str().unwrap().len() == 128);
        let (_, receipts) = pm.get("/api/v1/purge/receipts").await;
        assert!(!receipts.as_array().unwrap().is_empty());
        let (s, released) = pm
            .post(
                &format!("/api/v1/holds/{}/release", hold["id"]),
                json!({"note": "closed"}),
            )
            .await;
        assert_eq!(
            (s, released["released_by_name"].as_str()),
            (200, Some("pm2"))
        );
        let (s, _) = pm
            .post(&format!("/api/v1/holds/{}/release", hold["id"]), json!({}))
            .await;
        assert_eq!(s, 409);
        server.stop().await;
    }
}

const DAY: i64 = 86_400;
/// humantime's year, as the policy writes "3years".
const YEAR: i64 = 31_557_600;

/// Servers that accept reads captured up to 30 days ago (a backlog), so that a test can
/// ingest reads older than the retention.
async fn servers_taking_old_reads() -> Vec<TestServer> {
    TestServer::start_all_with(|c| c.ingest.max_past_skew_secs = 30 * DAY).await
}

/// Ingests one read of `plate` captured `days_ago` days ago.
async fn read_captured(server: &TestServer, key: &str, plate: &str, days_ago: i64) {
    let body = json!({"idempotency_key": format!("{plate}-{days_ago}"),
        "reads": [{"plate": plate, "confidence": 0.9, "captured_at": at(-days_ago * DAY)}]});
    let (s, b) = server.post_json("/api/v1/reads", key, &body).await;
    assert_eq!(s, 201, "{b}");
}

/// Issue 24: out of the box, what the public is told (`/api/v1/retention`, the
/// transparency page) is what the purge does: reads without a hit are kept 21 days.
#[tokio::test]
async fn out_of_the_box_the_purge_keeps_reads_as_long_as_the_public_is_told() {
    for server in servers_taking_old_reads().await {
        let pm = signed_in(&server, "pm-r1", "program_manager").await;
        let (s, retention) = pm.get("/api/v1/retention").await;
        assert_eq!(s, 200, "{retention}");
        assert_eq!(retention["non_hit_secs"], 21 * DAY, "{retention}");
        assert_eq!(retention["audit_secs"], 3 * YEAR, "{retention}");
        assert_eq!(retention["policy_version"], 1, "{retention}");
        let (s, page) = pm.get("/transparency.json").await;
        assert_eq!(s, 200);
        let period = |class: &str| {
            page["retention"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["class"] == class)
                .map(|r| r["period"].clone())
        };
        assert_eq!(period("Reads without a hit"), Some(json!("21 days")));
        assert_eq!(period("Audit records"), Some(json!("3 years")));

        let key = server.camera("cam-r1").await;
        read_captured(&server, &key, "OLD22D", 22).await;
        read_captured(&server, &key, "NEW20D", 20).await;
        let (s, r) = pm.post("/api/v1/purge", json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["receipt"]["counts"]["non_hit_reads"], 1, "{r}");
        assert_eq!(r["receipt"]["policy_version"], "1", "{r}");
        assert!(
            server.stored_reads("OLD22D").await.is_empty(),
            "past 21 days"
        );
        assert_eq!(
            server.stored_reads("NEW20D").await.len(),
            1,
            "within 21 days"
        );
        server.stop().await;
    }
}

/// Issue 24: publishing a policy with a shorter retention shortens what is already stored
/// (reads without a hit), and the next purge enforces it; hits keep their expiry.
#[tokio::test]
async fn publishing_a_shorter_retention_applies_to_reads_already_stored() {
    for server in servers_taking_old_reads().await {
        let pm = signed_in(&server, "pm-r2", "program_manager").await;
        let key = server.camera("cam-r2").await;
        server.hot_list("state", "V", "plate\nHIT10D\n").await;
        read_captured(&server, &key, "OLD10D", 10).await;
        read_captured(&server, &key, "NEW05D", 5).await;
        read_captured(&server, &key, "HIT10D", 10).await;
        let hit_expiry = server.stored_reads("HIT10D").await[0].expires_at;

        let (_, policy) = pm.get("/api/v1/policy").await;
        let mut doc = policy["document"].clone();
        doc["retention"]["non_hit_reads"] = json!("7days");
        doc["retention"]["images"] = json!("7days");
        let (s, published) = pm.put("/api/v1/policy", doc).await;
        assert_eq!(s, 200, "{published}");
        assert_eq!(published["version"], 2);
        let (s, b) = pm
            .post("/api/v1/policy/acknowledge", json!({"version": 2}))
            .await;
        assert_eq!(s, 204, "{b}");

        let (_, retention) = pm.get("/api/v1/retention").await;
        assert_eq!(retention["non_hit_secs"], 7 * DAY, "{retention}");
        assert_eq!(retention["policy_version"], 2, "{retention}");
        let (s, r) = pm.post("/api/v1/purge", json!({})).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["receipt"]["policy_version"], "2", "{r}");
        assert!(
            server.stored_reads("OLD10D").await.is_empty(),
            "past 7 days"
        );
        assert_eq!(
            server.stored_reads("NEW05D").await.len(),
            1,
            "within 7 days"
        );
        let hit = server.stored_reads("HIT10D").await;
        assert_eq!(hit.len(), 1, "a hit keeps the expiry it was given");
        assert_eq!(hit[0].expires_at, hit_expiry);
        server.stop().await;
    }
}
