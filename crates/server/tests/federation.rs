//! Inter-agency sharing end to end: three Candor servers on loopback, each with its own data
//! directory and federation key (the second on PostgreSQL when the run has one, the others
//! on SQLite), set up agreements through the management API (draft, sign, import, sign,
//! import back), then query each other and push hits. Every denial is checked with its code
//! and explanation. Also: named hot lists pulled from a partner, partner hits on the alert
//! stream and console, partner search in a real headless Chromium, and shared-query counts
//! on the reports page.

mod common;

use candor_server::federation::outbox::send_signed;
use candor_server::federation::partner::{HITS_PATH, HOTLISTS_PATH, QUERY_PATH};
use candor_server::federation::signing::sign_request;
use candor_store::audit_log::AuditFilter;
use candor_store::testing::TestDb;
use common::{TestServer, TestSession};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

struct Node {
    server: TestServer,
    agency: &'static str,
    pm: TestSession,
    investigator: TestSession,
    officer: TestSession,
}

impl Node {
    /// A node on SQLite.
    async fn start(agency: &'static str) -> Node {
        Self::start_on(agency, TestDb::sqlite().unwrap()).await
    }

    /// A node on PostgreSQL where the run has one (`.ci/run` does), else on SQLite: each test
    /// starts its second agency this way, so every exchange crosses the two backends.
    async fn start_postgres(agency: &'static str) -> Node {
        let db = match TestDb::postgres().await.unwrap() {
            Some(db) => db,
            None => TestDb::sqlite().unwrap(),
        };
        Self::start_on(agency, db).await
    }

    async fn start_on(agency: &'static str, db: TestDb) -> Node {
        let server = TestServer::start(db).await;
        let pm = server.create_user("pm", "program_manager").await;
        let investigator = server.create_user("det", "investigator").await;
        let officer = server.create_user("officer", "officer").await;
        Node {
            agency,
            pm: server.session_for(&pm).await,
            investigator: server.session_for(&investigator).await,
            officer: server.session_for(&officer).await,
            server,
        }
    }

    fn key(&self) -> String {
        self.server.state.federation.public_key()
    }

    async fn pm(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.server.call(&self.pm, method, path, body).await
    }

    /// Audit records whose action starts with `prefix`.
    async fn audit(&self, prefix: &str) -> Vec<candor_audit::AuditRecord> {
        self.server
            .state
            .store
            .search_audit(&AuditFilter {
                action_prefix: Some(prefix.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// Audit records whose action starts with `prefix`, once there is at least one: a
    /// partner's notice is stored before it is audited, so its visible effect comes first.
    async fn audit_when_written(&self, prefix: &str) -> Vec<candor_audit::AuditRecord> {
        wait_for(prefix, || async { !self.audit(prefix).await.is_empty() }).await;
        self.audit(prefix).await
    }

    /// Stores reads of `plates` from an approved camera through the ingest API.
    async fn ingest(&self, camera: &str, plates: &[&str]) {
        let key = self.server.camera(camera).await;
        let body = json!({
            "idempotency_key": format!("{camera}-{}", plates.join("-")),
            "reads": plates.iter().map(|p| json!({
                "plate": p, "confidence": 0.93, "captured_at": common::at(-60),
                "vehicle_color": "silver", "vehicle_make": "Honda", "latitude": 40.1, "longitude": -75.2
            })).collect::<Vec<_>>()
        });
        let (status, out) = self.server.post_json("/api/v1/reads", &key, &body).await;
        assert_eq!(status, 201, "{out}");
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

fn day_offset(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

fn terms(hit_types: &[&str], plate_queries: bool) -> Value {
    json!({
        "sharing": {"plate_queries": plate_queries, "hit_types": hit_types,
                    "fields": ["plate", "captured_at", "camera_location"]},
        "purposes": ["stolen-vehicle", "violent-crime"],
        "excluded_purposes": ["immigration-enforcement"],
        "limits": {"max_window": "7days", "max_results": 50},
        "recipient_retention": "30days",
        "effective": day_offset(-1),
        "expires": day_offset(90),
    })
}

/// Drafts and signs an agreement at `x`, imports and signs it at `y`, imports the doubly
/// signed copy back at `x`. Returns its id.
async fn agree(x: &Node, y: &Node, terms: Value) -> String {
    let draft = json!({
        "local": {"agency_name": x.agency, "jurisdiction": "Virginia, USA", "instance_url": x.server.base},
        "partner": {"agency_name": y.agency, "jurisdiction": "Virginia, USA",
                    "instance_url": y.server.base, "public_key": y.key()},
        "terms": terms,
    });
    let (s, a) = x.pm(Method::POST, "/api/v1/agreements", Some(&draft)).await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["status"], "awaiting_signature");
    let id = a["id"].as_str().unwrap().to_string();
    let (s, a) = x
        .pm(Method::POST, &format!("/api/v1/agreements/{id}/sign"), None)
        .await;
    assert_eq!(s, 200, "{a}");
    assert!(
        a["status_reason"].as_str().unwrap().contains(y.agency),
        "{a}"
    );
    let (s, b) = y
        .pm(
            Method::POST,
            "/api/v1/agreements/import",
            Some(&a["document"]),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = y
        .pm(Method::POST, &format!("/api/v1/agreements/{id}/sign"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, a) = x
        .pm(
            Method::POST,
            "/api/v1/agreements/import",
            Some(&b["document"]),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    id
}

async fn status_of(node: &Node, id: &str) -> Value {
    let (s, list) = node.pm(Method::GET, "/api/v1/agreements", None).await;
    assert_eq!(s, 200, "{list}");
    list["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap()
}

fn purpose(category: &str) -> Value {
    json!({"category": category, "case_number": "2026-004512",
           "free_text": "Silver sedan reported stolen from the Main St lot"})
}

fn query(from: &Node, plate: &str, category: &str, window_days: i64) -> Value {
    let now = candor_store::now_ms();
    json!({
        "user": {"id": "7", "name": "det", "role": "investigator", "agency": from.agency},
        "purpose": purpose(category),
        "plate": plate,
        "from": now - window_days * 86_400_000,
        "to": now,
        "max_results": 10,
    })
}

/// Sends a signed request from `from` to `to` under `agreement`, through the real client.
async fn signed(from: &Node, to: &Node, agreement: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = send_signed(
        &from.server.state,
        agreement,
        &to.server.base,
        path,
        body.to_string().into_bytes(),
    )
    .await
    .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Posts `body` to `to` with signature headers `sig` made over whatever the caller chose
/// (another body, another key): the forgeries.
async fn post_with_signature(
    to: &Node,
    path: &str,
    sig: &candor_server::federation::signing::RequestSignature,
    body: String,
) -> (u16, Value) {
    let mut req = to
        .server
        .client
        .post(to.server.url(path))
        .header("content-type", "application/json");
    for (name, value) in sig.headers() {
        req = req.header(name, value);
    }
    let res = req.body(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Every hit the node holds (up to 100), newest first.
async fn hits_held(node: &Node) -> Vec<candor_store::hits::Hit> {
    node.server
        .state
        .store
        .list_hits(
            &node.server.state.keys,
            0,
            candor_store::now_ms() + 1,
            false,
            100,
        )
        .await
        .unwrap()
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
}

async fn partner_hits(node: &Node) -> Vec<Value> {
    let (s, hits) = node
        .server
        .call(&node.officer, Method::GET, "/api/v1/federation/hits", None)
        .await;
    assert_eq!(s, 200, "{hits}");
    hits.as_array().unwrap().clone()
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_partner_search_is_audited_and_counted_like_a_local_one_even_when_refused() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    agree(&a, &b, terms(&[], true)).await;
    let now = candor_store::now_ms();
    let searches = || async {
        let counts = a
            .server
            .state
            .store
            .usage_counts(now - 86_400_000, now + 86_400_000)
            .await
            .unwrap();
        counts
            .iter()
            .filter(|c| c.metric == candor_store::metrics::metric::SEARCHES)
            .map(|c| c.count)
            .sum::<i64>()
    };

    // This agency's policy refuses the case number: nothing is sent, and the refusal is
    // recorded with its reason, as a refused local search is.
    let mut bad = purpose("stolen-vehicle");
    bad["case_number"] = json!("no case");
    let search =
        json!({"plate": "ABC1234", "from": now - 86_400_000, "to": now + 1000, "purpose": bad});
    let (s, out) = a
        .server
        .call(
            &a.investigator,
            Method::POST,
            "/api/v1/federation/search",
            Some(&search),
        )
        .await;
    assert_eq!(
        (s, out["error"]["code"].as_str()),
        (422, Some("purpose_denied")),
        "{out}"
    );
    let refused = a.audit("federation.search.outgoing").await;
    assert_eq!(refused.len(), 1, "the refusal is audited");
    assert_eq!(refused[0].entry.outcome, candor_audit::Outcome::Denied);
    assert_eq!(
        refused[0].entry.details["purpose"]["case_number"],
        "no case"
    );
    assert!(
        refused[0].entry.details["reason"]
            .as_str()
            .unwrap()
            .contains("case number")
    );
    assert!(
        b.audit("federation.query.incoming").await.is_empty(),
        "nothing was sent"
    );
    assert_eq!(searches().await, 0, "a refused search is not a search made");

    // A search made is counted in the usage figures, as a local search is.
    let search = json!({"plate": "ABC1234", "from": now - 86_400_000, "to": now + 1000,
                        "purpose": purpose("stolen-vehicle")});
    let (s, out) = a
        .server
        .call(
            &a.investigator,
            Method::POST,
            "/api/v1/federation/search",
            Some(&search),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(a.audit("federation.search.outgoing").await.len(), 2);
    assert_eq!(searches().await, 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn queries_under_an_agreement_are_answered_audited_and_refused_with_reasons() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    b.ingest("cam-b1", &["ABC1234", "XYZ999"]).await;
    let id = agree(&a, &b, terms(&["V"], true)).await;
    assert_eq!(status_of(&a, &id).await["status"], "in_force");
    assert_eq!(status_of(&b, &id).await["status"], "in_force");

    // A permitted federated search: only the shared fields come back.
    let now = candor_store::now_ms();
    let search = json!({"plate": "abc-1234", "from": now - 86_400_000, "to": now + 1000,
                        "purpose": purpose("stolen-vehicle")});
    let (s, out) = a
        .server
        .call(
            &a.investigator,
            Method::POST,
            "/api/v1/federation/search",
            Some(&search),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let result = &out["results"][0];
    assert_eq!(result["outcome"], "answered", "{out}");
    assert_eq!(result["partner_agency"], "Southville SO");
    let reads = result["reads"].as_array().unwrap();
    assert_eq!(reads.len(), 1, "{out}");
    assert_eq!(reads[0]["plate"], "ABC1234");
    assert_eq!(reads[0]["camera_location"], "Main St & 3rd");
    assert!(reads[0]["captured_at"].is_i64());
    assert!(
        reads[0].get("vehicle_color").is_none() && reads[0].get("latitude").is_none(),
        "fields the agreement does not share are absent: {}",
        reads[0]
    );

    // Audited on both sides.
    let outgoing = a.audit("federation.search.outgoing").await;
    assert_eq!(outgoing.len(), 1);
    let details = &outgoing[0].entry.details;
    assert_eq!(details["purpose"]["case_number"], "2026-004512");
    assert_eq!(details["partners"][0]["results"], 1);
    let incoming = b.audit("federation.query.incoming").await;
    assert_eq!(incoming.len(), 1);
    let e = &incoming[0].entry;
    assert_eq!(
        e.actor,
        candor_audit::Actor::Partner {
            agency: "Northtown PD".into(),
            user: "det".into()
        }
    );
    assert_eq!(e.target, format!("agreement:{id}"));
    assert_eq!(e.details["agreement_id"], id.as_str());
    assert_eq!(e.details["partner_user"]["role"], "investigator");
    assert_eq!(e.details["purpose"]["category"], "stolen-vehicle");
    assert_eq!(e.details["purpose"]["case_number"], "2026-004512");
    assert_eq!(e.details["results"], 1);
    let counts = b
        .server
        .state
        .store
        .shared_query_counts(0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (
            counts[0].partner_agency.as_str(),
            counts[0].incoming_answered
        ),
        ("Northtown PD", 1)
    );
    let (s, listed) = b
        .pm(
            Method::GET,
            "/api/v1/federation/requests?direction=incoming",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(listed["requests"][0]["user_name"], "det");

    // The public page of each side names the agreement and counts the query, and nothing
    // of who asked or for which plate.
    for (node, partner, answered, outgoing) in
        [(&b, "Northtown PD", 1, 0), (&a, "Southville SO", 0, 1)]
    {
        let page: Value = node
            .server
            .client
            .get(node.server.url("/transparency.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sharing = &page["sharing"];
        assert_eq!(
            sharing["agreements"][0]["partner_agency"], partner,
            "{sharing}"
        );
        assert!(sharing["agreements"][0]["revoked"].is_null());
        let q = &sharing["queries_by_partner"][0];
        assert_eq!(q["partner_agency"], partner, "{sharing}");
        assert_eq!(q["incoming_answered"], answered);
        assert_eq!(q["outgoing"], outgoing);
        let text = page.to_string();
        assert!(
            !text.contains("ABC1234") && !text.contains("\"det\""),
            "{text}"
        );
    }

    // Unsigned.
    let res = b
        .server
        .client
        .post(b.server.url(QUERY_PATH))
        .json(&query(&a, "ABC1234", "stolen-vehicle", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(code(&body), "unsigned_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing x-candor-agreement")
    );

    // Forged: a valid signature over another body, and a signature by a stranger's key.
    let good = query(&a, "ABC1234", "stolen-vehicle", 1).to_string();
    let sig = sign_request(
        &a.server.state.federation.key,
        "POST",
        QUERY_PATH,
        &id,
        good.as_bytes(),
    );
    let (s, out) = post_with_signature(
        &b,
        QUERY_PATH,
        &sig,
        query(&a, "XYZ999", "stolen-vehicle", 1).to_string(),
    )
    .await;
    assert_eq!((s, code(&out)), (401, "bad_signature"), "{out}");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let sig = sign_request(&stranger, "POST", QUERY_PATH, &id, good.as_bytes());
    let (s, out) = post_with_signature(&b, QUERY_PATH, &sig, good.clone()).await;
    assert_eq!((s, code(&out)), (403, "not_a_party"), "{out}");

    // Replayed: the same signed request twice.
    let sig = sign_request(
        &a.server.state.federation.key,
        "POST",
        QUERY_PATH,
        &id,
        good.as_bytes(),
    );
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let mut req = b
            .server
            .client
            .post(b.server.url(QUERY_PATH))
            .header("content-type", "application/json");
        for (name, value) in sig.headers() {
            req = req.header(name, value);
        }
        let res = req.body(good.clone()).send().await.unwrap();
        statuses.push((
            res.status().as_u16(),
            code(&res.json().await.unwrap()).to_string(),
        ));
    }
    assert_eq!(statuses[0].0, 200);
    assert_eq!(statuses[1], (409, "replayed_request".to_string()));

    // Refused by the agreement, each with its reason, and audited as refused.
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC1234", "property-crime", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "purpose_not_allowed"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stolen-vehicle, violent-crime")
    );
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC1234", "immigration-enforcement", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "purpose_excluded"), "{out}");
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC12*", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "partial_not_allowed"), "{out}");
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC1234", "stolen-vehicle", 8),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "window_too_long"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 7 days"),
        "{out}"
    );
    let denied = b.audit("federation.query.incoming").await;
    assert!(
        denied
            .iter()
            .any(|r| r.entry.outcome == candor_audit::Outcome::Denied
                && r.entry.details["denial"] == "window_too_long"),
        "refusals are audited"
    );
    let counts = b
        .server
        .state
        .store
        .shared_query_counts(0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        (counts[0].incoming_answered, counts[0].incoming_denied),
        (2, 4)
    );
    let (s, summary) = b.pm(Method::GET, "/api/v1/federation/summary", None).await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(
        summary["shared_queries"][0]["partner_agency"],
        "Northtown PD"
    );
    assert_eq!(summary["shared_queries"][0]["incoming_denied"], 4);
    assert_eq!(summary["agreements"][0]["partner_agency"], "Northtown PD");
    assert_eq!(summary["agreements"][0]["signed_by_both"], true);
    let (_, summary) = a.pm(Method::GET, "/api/v1/federation/summary", None).await;
    assert_eq!(summary["shared_queries"][0]["outgoing"], 1, "{summary}");

    // The requesting side refuses before sending what the agreement does not allow.
    let mut wide = search.clone();
    wide["from"] = json!(now - 10 * 86_400_000);
    let (s, out) = a
        .server
        .call(
            &a.investigator,
            Method::POST,
            "/api/v1/federation/search",
            Some(&wide),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["results"][0]["outcome"], "denied");
    assert_eq!(out["results"][0]["error"]["code"], "window_too_long");
    assert!(
        out["results"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("refused here before sending")
    );

    // An expired agreement.
    let mut old = terms(&["V"], true);
    old["effective"] = json!(day_offset(-30));
    old["expires"] = json!(day_offset(-1));
    let expired = agree(&a, &b, old).await;
    assert_eq!(status_of(&b, &expired).await["status"], "expired");
    let (s, out) = signed(
        &a,
        &b,
        &expired,
        QUERY_PATH,
        &query(&a, "ABC1234", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "agreement_expired"), "{out}");

    // Revoked by A: at once locally, and B learns it through the outbox.
    let (s, out) = a
        .pm(
            Method::POST,
            &format!("/api/v1/agreements/{id}/revoke"),
            Some(&json!({"reason": "council ended the programme"})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["status"], "revoked");
    let store = b.server.state.store.clone();
    let agreement_id = id.clone();
    wait_for("the revocation to reach the partner", || {
        let store = store.clone();
        let agreement_id = agreement_id.clone();
        async move {
            store
                .agreement(&agreement_id)
                .await
                .unwrap()
                .unwrap()
                .revocation
                .is_some()
        }
    })
    .await;
    let revocation = status_of(&b, &id).await["revocation"].clone();
    assert_eq!(revocation["side"], "partner");
    assert_eq!(revocation["reason"], "council ended the programme");
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC1234", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "agreement_revoked"), "{out}");
    assert_eq!(
        b.audit_when_written("federation.agreement.revoked_by_partner")
            .await
            .len(),
        1
    );
    // and the revoked agreement is no longer asked at all
    let (_, out) = a
        .server
        .call(
            &a.investigator,
            Method::POST,
            "/api/v1/federation/search",
            Some(&search),
        )
        .await;
    assert_eq!(out["results"], json!([]), "{out}");

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn hits_reach_only_partners_sharing_their_type_and_never_go_onward() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    let c = Node::start("Westburg PD").await;
    // A shares stolen-vehicle hits (V) with B, warrant hits (W) with C; B and C share
    // queries and V hits with each other.
    let ab = agree(&a, &b, terms(&["V"], true)).await;
    let ac = agree(&a, &c, terms(&["W"], false)).await;
    let bc = agree(&b, &c, terms(&["V"], true)).await;
    a.server.hot_list("stolen", "V", "plate\nHOT111\n").await;
    a.server.hot_list("warrants", "W", "plate\nWAR222\n").await;
    a.ingest("cam-a1", &["HOT111", "WAR222", "NOPE000"]).await;

    for node in [&b, &c] {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while seen.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no hit reached {}",
                node.agency
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            seen = partner_hits(node).await;
        }
        assert_eq!(seen.len(), 1, "{seen:?}");
        let hit = &seen[0];
        let (expected_agreement, plate, hit_type) = if node.agency == "Southville SO" {
            (&ab, "HOT111", "V")
        } else {
            (&ac, "WAR222", "W")
        };
        assert_eq!(hit["agreement_id"], expected_agreement.as_str());
        assert_eq!(hit["hit_type"], hit_type);
        assert_eq!(hit["notification"]["plate"], plate);
        assert_eq!(hit["notification"]["origin_agency"], "Northtown PD");
        assert_eq!(hit["partner_agency"], "Northtown PD");
    }
    // Every outbox message was delivered: each type went only where it is shared.
    for agreement in [&ab, &ac] {
        let items = a
            .server
            .state
            .store
            .outbox_for(&a.server.state.keys, agreement)
            .await
            .unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0].delivered_at.is_some(), "{items:?}");
    }
    assert_eq!(b.audit("federation.hit.incoming").await.len(), 1);

    // A hit type the agreement does not share is refused, explained.
    let note = |hit_type: &str, origin: &Node| {
        json!({"origin_instance": origin.server.base, "origin_agency": origin.agency, "hit_id": 1,
               "hit_type": hit_type, "plate": "HOT111", "captured_at": candor_store::now_ms(),
               "list_name": "stolen", "camera_location": "Main St"})
    };
    let (s, out) = signed(&a, &b, &ab, HITS_PATH, &note("W", &a)).await;
    assert_eq!((s, code(&out)), (403, "hit_type_not_shared"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shared: V")
    );

    // Onward sharing through a third instance: B passes A's hit on to C …
    let (s, out) = signed(&b, &c, &bc, HITS_PATH, &note("V", &a)).await;
    assert_eq!((s, code(&out)), (403, "onward_sharing"), "{out}");
    // … or relays a query for C's user to A; both refused.
    let (s, out) = signed(
        &b,
        &a,
        &ab,
        QUERY_PATH,
        &query(&c, "HOT111", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "onward_sharing"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Westburg PD")
    );
    // C asks B about the plate B knows only from A's notification: nothing comes back.
    let (s, out) = signed(
        &c,
        &b,
        &bc,
        QUERY_PATH,
        &query(&c, "HOT111", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["reads"], json!([]));
    assert!(
        b.server
            .state
            .store
            .outbox_for(&b.server.state.keys, &bc)
            .await
            .unwrap()
            .is_empty(),
        "B never queues A's hits for C"
    );

    a.stop().await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test]
async fn agreements_are_validated_and_signed_copies_must_match() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    let mut bad = terms(&["V"], true);
    bad["onward_sharing"] = json!(true);
    let draft = json!({
        "local": {"jurisdiction": "Virginia, USA", "instance_url": a.server.base},
        "partner": {"agency_name": b.agency, "jurisdiction": "Virginia, USA",
                    "instance_url": b.server.base, "public_key": b.key()},
        "terms": bad,
    });
    let (s, out) = a.pm(Method::POST, "/api/v1/agreements", Some(&draft)).await;
    assert_eq!((s, code(&out)), (422, "invalid_agreement"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("onward_sharing must be false")
    );
    let mut draft = draft;
    draft["terms"] = terms(&["V"], true);
    draft["terms"]["limits"]["max_window"] = json!("a week");
    let (s, out) = a.pm(Method::POST, "/api/v1/agreements", Some(&draft)).await;
    assert_eq!(s, 422, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("terms.limits.max_window"),
        "{out}"
    );

    // Plate data leaves only over TLS: a partner on plain http elsewhere is refused.
    let mut plain = draft.clone();
    plain["terms"] = terms(&["V"], true);
    plain["partner"]["instance_url"] = json!("http://alpr.southville.example");
    let (s, out) = a.pm(Method::POST, "/api/v1/agreements", Some(&plain)).await;
    assert_eq!((s, code(&out)), (422, "invalid_agreement"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("use https"),
        "{out}"
    );

    // Only a program manager manages agreements.
    let (s, out) = a
        .server
        .call(&a.investigator, Method::GET, "/api/v1/agreements", None)
        .await;
    assert_eq!((s, code(&out)), (403, "forbidden"));

    // A signed copy whose terms were changed after signing is refused on import.
    let id = {
        draft["terms"] = terms(&["V"], true);
        let (s, out) = a.pm(Method::POST, "/api/v1/agreements", Some(&draft)).await;
        assert_eq!(s, 201, "{out}");
        out["id"].as_str().unwrap().to_string()
    };
    let (_, signed_copy) = a
        .pm(Method::POST, &format!("/api/v1/agreements/{id}/sign"), None)
        .await;
    let mut tampered = signed_copy["document"].clone();
    tampered["agreement"]["limits"]["max_results"] = json!(100000);
    let (s, out) = b
        .pm(Method::POST, "/api/v1/agreements/import", Some(&tampered))
        .await;
    assert_eq!(
        (s, code(&out)),
        (422, "agreement_signature_invalid"),
        "{out}"
    );
    // Changed terms without signatures: refused where a copy is held, as different terms.
    tampered["signatures"] = json!([]);
    let (s, out) = a
        .pm(Method::POST, "/api/v1/agreements/import", Some(&tampered))
        .await;
    assert_eq!((s, code(&out)), (409, "terms_differ"), "{out}");
    // A document that does not name this instance is refused.
    let c_key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let mut foreign = signed_copy["document"].clone();
    foreign["agreement"]["parties"][1]["public_key"] =
        json!(hex::encode(c_key.verifying_key().to_bytes()));
    foreign["signatures"] = json!([]);
    let (s, out) = b
        .pm(Method::POST, "/api/v1/agreements/import", Some(&foreign))
        .await;
    assert_eq!((s, code(&out)), (422, "not_a_party"), "{out}");
    // Signed by one side only, nothing is shared yet.
    let (s, out) = b
        .pm(
            Method::POST,
            "/api/v1/agreements/import",
            Some(&signed_copy["document"]),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["status"], "awaiting_signature");
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC1234", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!((s, code(&out)), (403, "agreement_not_signed"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Southville SO")
    );
    // The public summary says with whom, what and when.
    let summaries = b.server.state.store.agreement_summaries().await.unwrap();
    assert_eq!(summaries[0].partner_agency, "Candor agency");
    assert!(
        summaries[0]
            .scope
            .contains("plate queries (full plates only"),
        "{}",
        summaries[0].scope
    );
    assert!(summaries[0].scope.contains("no onward sharing"));
    assert!(!summaries[0].signed_by_both);

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_partial_plate_is_answered_only_where_the_agreement_states_it() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    b.ingest("cam-b1", &["ABC1234", "ABD1234", "XYZ999"]).await;
    let mut t = terms(&["V"], true);
    t["limits"]["partial_plates"] = json!(true);
    let id = agree(&a, &b, t).await;
    let (s, out) = signed(
        &a,
        &b,
        &id,
        QUERY_PATH,
        &query(&a, "ABC12*", "stolen-vehicle", 1),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let plates: Vec<&str> = out["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["plate"].as_str().unwrap())
        .collect();
    assert_eq!(plates, ["ABC1234"], "{out}");
    let incoming = b.audit("federation.query.incoming").await;
    assert_eq!(incoming[0].entry.details["query"]["kind"], "partial");
    a.stop().await;
    b.stop().await;
}

/// A console page as `session` sees it (cookie, no redirects): status and body.
async fn console_page(node: &Node, session: &TestSession, path: &str) -> (u16, String) {
    let res = TestServer::no_redirect_client()
        .get(node.server.url(path))
        .header("cookie", format!("candor_session={}", session.token))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn pull(from: &Node, name: &str) -> Value {
    json!({"user": {"id": "1", "name": "pm", "role": "program_manager", "agency": from.agency},
           "name": name})
}

#[tokio::test]
async fn named_hot_lists_are_pulled_only_under_an_agreement_in_force_that_names_them() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    let c = Node::start("Westburg PD").await;
    let mut t = terms(&[], true);
    // "amber" is named but A holds no such list (yet).
    t["sharing"]["hot_lists"] = json!(["stolen", "amber"]);
    let ab = agree(&a, &b, t).await;
    a.server
        .hot_list("stolen", "V", "plate,reason\nHOT111,stolen sedan\n")
        .await;
    a.server.hot_list("warrants", "W", "plate\nWAR222\n").await;
    let import = |name: &str| format!("/api/v1/agreements/{ab}/hotlists/{name}/import");

    // Allowed: B pulls A's "stolen" list into a local list marked as A's.
    let (s, out) = b.pm(Method::POST, &import("stolen"), None).await;
    assert_eq!(s, 201, "{out}");
    assert_eq!(out["list"]["name"], "stolen (from Northtown PD)");
    assert_eq!(out["list"]["source"], "partner");
    assert_eq!(out["list"]["entry_count"], 1);
    assert_eq!(out["origin"]["agreement_id"], ab.as_str());
    assert_eq!(out["origin"]["partner_agency"], "Northtown PD");
    let held = b.server.state.store.partner_hot_lists().await.unwrap();
    assert_eq!(held.len(), 1);
    let list_id = out["list"]["id"].as_i64().unwrap();
    let entries = b
        .server
        .state
        .store
        .hot_list_entries(list_id, 10)
        .await
        .unwrap();
    assert_eq!(entries[0].plate, "HOT111");
    assert_eq!(entries[0].reason.as_deref(), Some("stolen sedan"));
    // Kept no longer than the agreement's retention at the recipient (30 days).
    assert!(entries[0].expires_at.unwrap() <= candor_store::now_ms() + 30 * 86_400_000);
    // B's matcher uses it: a read of the plate at B is a hit on A's list.
    b.ingest("cam-b1", &["HOT111"]).await;
    let hits = hits_held(&b).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].details.list_name, "stolen (from Northtown PD)");
    // Audited on both sides.
    let incoming = a.audit("federation.hotlist.incoming").await;
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].entry.details["entries"], 1);
    let imported = b.audit("federation.hotlist.import").await;
    assert_eq!(imported[0].entry.details["outcome"], "imported");

    // The hit on A's list at B is never notified to a third agency, even one whose
    // agreement with B shares that hit type.
    let bc = agree(&b, &c, terms(&["V"], false)).await;
    b.ingest("cam-b2", &["HOT111"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        b.server
            .state
            .store
            .outbox_for(&b.server.state.keys, &bc)
            .await
            .unwrap()
            .is_empty(),
        "a hit on A's list went on to C"
    );

    // Re-import replaces the local copy: here through the Sharing page's button.
    a.server
        .hot_list("stolen", "V", "plate\nHOT111\nHOT333\n")
        .await;
    let (s, page) = console_page(&b, &b.pm, "/console/sharing").await;
    assert_eq!(s, 200);
    assert!(
        page.contains("Import hot list “stolen” from Northtown PD"),
        "{page}"
    );
    let res = TestServer::no_redirect_client()
        .post(b.server.url(&format!("/console/sharing/{ab}/hotlists")))
        .header("cookie", format!("candor_session={}", b.pm.token))
        .form(&[("csrf_token", b.pm.csrf.as_str()), ("name", "stolen")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Imported 2 entries"), "{page}");
    assert!(page.contains("stolen (from Northtown PD)"), "{page}");
    let held = b.server.state.store.partner_hot_lists().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].remote_version, held[0].entry_count), (2, 2));
    let (s, out) = b.pm(Method::POST, &import("stolen"), None).await;
    assert_eq!(s, 201, "{out}");
    assert_eq!(out["list"]["id"].as_i64(), Some(list_id));
    assert_eq!(out["list"]["entry_count"], 2);

    // Not named in the agreement: refused here, and refused by A if asked directly.
    let (s, out) = b.pm(Method::POST, &import("warrants"), None).await;
    assert_eq!((s, code(&out)), (403, "hot_list_not_shared"), "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shared: stolen")
    );
    let (s, out) = signed(&b, &a, &ab, HOTLISTS_PATH, &pull(&b, "warrants")).await;
    assert_eq!((s, code(&out)), (403, "hot_list_not_shared"), "{out}");
    let refusals = a.audit("federation.hotlist.incoming").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.entry.details["denial"] == "hot_list_not_shared"),
        "{refusals:?}"
    );
    // Named but not held: a clear 404, audited like every other answer to a pull.
    let (s, out) = signed(&b, &a, &ab, HOTLISTS_PATH, &pull(&b, "amber")).await;
    assert_eq!((s, code(&out)), (404, "not_found"), "{out}");
    let unheld: Vec<_> = a
        .audit("federation.hotlist.incoming")
        .await
        .into_iter()
        .filter(|r| r.entry.details["list"] == "amber")
        .collect();
    assert_eq!(unheld.len(), 1, "{unheld:?}");
    assert_eq!(unheld[0].entry.outcome, candor_audit::Outcome::Failure);
    assert!(
        unheld[0].entry.details["reason"]
            .as_str()
            .unwrap()
            .contains("holds no list of that name"),
        "{unheld:?}"
    );
    // Asked on behalf of a third agency: onward sharing, refused.
    let mut relayed = pull(&b, "stolen");
    relayed["user"]["agency"] = json!("Westburg PD");
    let (s, out) = signed(&b, &a, &ab, HOTLISTS_PATH, &relayed).await;
    assert_eq!((s, code(&out)), (403, "onward_sharing"), "{out}");

    // Forged: a signature over another body.
    let good = pull(&b, "warrants").to_string();
    let sig = sign_request(
        &b.server.state.federation.key,
        "POST",
        HOTLISTS_PATH,
        &ab,
        good.as_bytes(),
    );
    let (s, out) =
        post_with_signature(&a, HOTLISTS_PATH, &sig, pull(&b, "stolen").to_string()).await;
    assert_eq!((s, code(&out)), (401, "bad_signature"), "{out}");

    // Revoked: A revokes; B's pull is refused (at A, and here once B is told), and the copy
    // B holds is withdrawn: a read of its plate at B is no longer a hit.
    let hits_before = hits_held(&b).await.len();
    let (s, out) = a
        .pm(
            Method::POST,
            &format!("/api/v1/agreements/{ab}/revoke"),
            Some(&json!({"reason": "end of the joint operation"})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let (s, out) = signed(&b, &a, &ab, HOTLISTS_PATH, &pull(&b, "stolen")).await;
    assert_eq!((s, code(&out)), (403, "agreement_revoked"), "{out}");
    wait_for("B to learn of the revocation", || async {
        status_of(&b, &ab).await["status"] == "revoked"
    })
    .await;
    assert!(
        b.server
            .state
            .store
            .partner_hot_lists()
            .await
            .unwrap()
            .is_empty()
    );
    let told = b
        .audit_when_written("federation.agreement.revoked_by_partner")
        .await;
    assert_eq!(
        told[0].entry.details["withdrawn_hot_lists"],
        json!(["stolen (from Northtown PD)"])
    );
    b.ingest("cam-b3", &["HOT111"]).await;
    assert_eq!(
        hits_held(&b).await.len(),
        hits_before,
        "a withdrawn list still matched"
    );
    let (s, out) = b.pm(Method::POST, &import("stolen"), None).await;
    assert_eq!((s, code(&out)), (403, "agreement_revoked"), "{out}");
    let (_, page) = console_page(&b, &b.pm, "/console/sharing").await;
    assert!(!page.contains("Import hot list"), "{page}");
    let refused: Vec<_> = b
        .audit("federation.hotlist.import")
        .await
        .into_iter()
        .filter(|r| r.entry.details["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");

    // A file import cannot pose as a partner's list.
    let res = b
        .server
        .client
        .post(
            b.server
                .url("/api/v1/hotlists/import?name=fake&source=partner&format=csv&hit_type=V"),
        )
        .bearer_auth(&b.pm.token)
        .header("content-type", "text/csv")
        .body("plate\nAAA111\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    a.stop().await;
    b.stop().await;
    c.stop().await;
}

/// Opens the alert stream as `session` and collects its event names and data, in the
/// background.
fn listen(
    node: &Node,
    session: &TestSession,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let req = node
        .server
        .client
        .get(node.server.url("/api/v1/alerts/stream"))
        .bearer_auth(&session.token);
    tokio::spawn(async move {
        let Ok(mut res) = req.send().await else {
            return;
        };
        let mut buf = String::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut event = String::new();
                let mut data = Value::Null;
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data = serde_json::from_str(d.trim()).unwrap_or(Value::Null);
                    }
                }
                if !event.is_empty() && tx.send((event, data)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[tokio::test]
async fn partner_hits_reach_the_alert_stream_only_where_the_agreement_covers_them() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    let c = Node::start("Westburg PD").await;
    // A shares V hits with B (time, not place) and W hits with C.
    let mut t = terms(&["V"], false);
    t["sharing"]["fields"] = json!(["plate", "captured_at"]);
    let ab = agree(&a, &b, t).await;
    let _ac = agree(&a, &c, terms(&["W"], false)).await;
    a.server.hot_list("stolen", "V", "plate\nHOT111\n").await;
    let mut b_stream = listen(&b, &b.officer);
    let mut c_stream = listen(&c, &c.officer);
    // The streams are open (their subscriptions are audited first).
    for node in [&b, &c] {
        wait_for("the stream subscription", || async {
            !node.audit("alerts.stream").await.is_empty()
        })
        .await;
    }
    a.ingest("cam-a1", &["HOT111"]).await;

    let (event, data) = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (event, data) = b_stream.recv().await.expect("B's stream open");
            if event == "partner_hit" {
                return (event, data);
            }
        }
    })
    .await
    .expect("B's stream announced the partner's hit");
    assert_eq!(event, "partner_hit");
    assert_eq!(data["agreement_id"], ab.as_str());
    assert_eq!(data["partner_agency"], "Northtown PD");
    assert_eq!(data["hit_type"], "V");
    assert!(
        data.get("plate").is_none(),
        "the stream carries no plate: {data}"
    );
    let received_id = data["received_id"].as_i64().unwrap();

    // C's agreement does not cover V: nothing on C's stream, nothing stored.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while let Ok((event, _)) = c_stream.try_recv() {
        assert_ne!(event, "partner_hit");
    }
    assert!(partner_hits(&c).await.is_empty());

    // B's officers see it in the console, marked as A's, with only the shared fields.
    let (s, page) = console_page(&b, &b.officer, "/console/alerts").await;
    assert_eq!(s, 200);
    assert!(page.contains("Partner hit: Northtown PD"), "{page}");
    assert!(page.contains(&ab));
    assert!(page.contains("HOT111"));
    assert!(
        !page.contains("Main St"),
        "camera location is not shared: {page}"
    );
    let (s, card) = console_page(
        &b,
        &b.officer,
        &format!("/console/alerts/partner-hits/{received_id}"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        card.contains(&format!("partner-hit-{received_id}")),
        "{card}"
    );
    let hits = partner_hits(&b).await;
    assert!(
        hits[0]["notification"].get("camera_location").is_none(),
        "{hits:?}"
    );
    assert!(hits[0]["notification"]["captured_at"].is_i64());
    // Every view is on record: the page, the card, the API.
    let views = b.audit("federation.hits.view").await;
    assert_eq!(views.len(), 3, "{views:?}");
    assert!(
        views
            .iter()
            .all(|v| v.entry.details["ids"] == json!([received_id]))
    );

    a.stop().await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test]
async fn shared_query_counts_on_the_reports_page_match_the_seed() {
    let a = Node::start("Northtown PD").await;
    let now = candor_store::now_ms();
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(10);
    let to = today + chrono::Duration::days(1);
    let from_ms = from
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let seed = [
        ("Southville SO", "incoming", "answered", now - 3_600_000),
        ("Southville SO", "incoming", "answered", now - 7_200_000),
        ("Southville SO", "incoming", "answered", from_ms),
        ("Southville SO", "incoming", "denied", now - 60_000),
        ("Southville SO", "outgoing", "answered", now - 60_000),
        ("Southville SO", "outgoing", "denied", now - 60_000),
        ("Westburg PD", "outgoing", "failed", now - 60_000),
        // Before the period: not counted.
        ("Southville SO", "incoming", "answered", from_ms - 1),
        ("Eastham PD", "outgoing", "answered", from_ms - 86_400_000),
    ];
    for (partner, direction, outcome, at) in seed {
        a.server
            .state
            .store
            .record_federation_request(&candor_store::agreements::FederationRequest {
                agreement_id: "seeded".into(),
                direction: direction.into(),
                partner_agency: partner.into(),
                user_name: "det".into(),
                user_role: "investigator".into(),
                purpose_category: "stolen-vehicle".into(),
                case_number: "2026-1".into(),
                outcome: outcome.into(),
                reason: String::new(),
                result_count: 1,
                at,
            })
            .await
            .unwrap();
    }
    let (s, page) = console_page(
        &a,
        &a.pm,
        &format!("/console/reports?period=day&from={from}&to={to}"),
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("<tr><td>Southville SO</td><td>3</td><td>1</td><td>2</td></tr>"),
        "{page}"
    );
    assert!(
        page.contains("<tr><td>Westburg PD</td><td>0</td><td>0</td><td>1</td></tr>"),
        "{page}"
    );
    assert!(!page.contains("Eastham PD"));
    a.stop().await;
}

#[tokio::test]
async fn partner_search_in_the_console_asks_partners_and_shows_each_answer_or_refusal() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    let c = Node::start("Westburg PD").await;
    let ab = agree(&a, &b, terms(&[], true)).await;
    // C agrees to violent-crime queries only.
    let mut t = terms(&[], true);
    t["purposes"] = json!(["violent-crime"]);
    let ac = agree(&a, &c, t).await;
    b.ingest("cam-b1", &["HOT111"]).await;
    let det = a.server.create_user("det2", "investigator").await;

    let browser = common::browser::Browser::start().await;
    browser.sign_in(&a.server, &det).await;
    browser.open(&a.server, "/console/search/partners").await;
    assert!(browser.text("nav").await.contains("Partner search"));
    let partners = browser.text("#partners").await;
    assert!(
        partners.contains("Southville SO") && partners.contains("Westburg PD"),
        "{partners}"
    );

    // Purpose required: nothing is sent without it.
    browser.fill("#plate", "HOT111").await;
    browser.click("#run-partner-search").await;
    browser
        .wait_for_text("#purpose-error", "only with a purpose")
        .await;
    assert!(!browser.has("#answers").await);
    assert!(a.audit("federation.search.outgoing").await.is_empty());

    // With a purpose: B answers; C's agreement refuses the purpose, with its reason.
    let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    browser
        .set_value("#from", &day_ago.format("%Y-%m-%dT%H:%M").to_string())
        .await;
    browser
        .set_value("#to", &soon.format("%Y-%m-%dT%H:%M").to_string())
        .await;
    browser.set_value("#category", "stolen-vehicle").await;
    browser.fill("#case_number", "2026-004512").await;
    browser
        .fill(
            "#free_text",
            "Silver sedan reported stolen from the Main St lot",
        )
        .await;
    browser.click("#run-partner-search").await;
    let answered = browser
        .wait_for_text(&format!("#answer-{ab}"), "Southville SO: 1 read")
        .await;
    assert!(answered.contains("HOT111"), "{answered}");
    let refused = browser
        .wait_for_text(&format!("#answer-{ac}"), "Westburg PD: denied")
        .await;
    assert!(
        refused.contains("not allowed by this agreement"),
        "{refused}"
    );
    // Audited like the API: here (outgoing, each partner's outcome) and at B.
    let out = a.audit("federation.search.outgoing").await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].entry.details["partners"].as_array().unwrap().len(),
        2
    );
    assert_eq!(b.audit("federation.query.incoming").await.len(), 1);
    assert!(c.audit("federation.query.incoming").await.is_empty());

    browser.stop().await;
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

/// The newest checkpoint `node` witnessed under `agreement`, as an auditor fetches it.
async fn witnessed(node: &Node, agreement: &str) -> (u16, Value) {
    node.pm(
        Method::GET,
        &format!("/api/v1/federation/witnessed/{agreement}"),
        None,
    )
    .await
}

/// Runs each statement on `node`'s database: the insider's rollback.
async fn tamper(node: &Node, statements: &[String]) {
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(node.server.state.store.pool())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_partner_witnesses_checkpoints_and_catches_a_rolled_back_audit_log() {
    let a = Node::start("Northtown PD").await;
    let b = Node::start_postgres("Southville SO").await;
    let id = agree(&a, &b, terms(&["stolen"], true)).await;
    let key = candor_server::routes::audit::audit_signing_key(&a.server.state.config.key_dir())
        .unwrap()
        .verifying_key();

    // A signs a checkpoint; B witnesses it, pinning A's audit key.
    let (s, first) = a.pm(Method::POST, "/api/v1/audit/checkpoints", None).await;
    assert_eq!(s, 200, "{first}");
    let first_length = first["length"].as_u64().unwrap();
    wait_for("B to witness A's checkpoint", || async {
        witnessed(&b, &id).await.1["length"] == first_length
    })
    .await;
    let (_, seen) = witnessed(&b, &id).await;
    assert_eq!(seen["text"], first["statement"], "{seen}");
    assert_eq!(seen["public_key"], hex::encode(key.to_bytes()));
    assert_eq!(seen["partner_agency"], a.agency);
    let pinned = b.audit("federation.checkpoint.key_pinned").await;
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0].entry.target, format!("agreement:{id}"));

    // The chain grows; B witnesses the newer checkpoint too.
    for _ in 0..3 {
        let (s, _) = a.pm(Method::GET, "/api/v1/audit?limit=1", None).await;
        assert_eq!(s, 200);
    }
    let (s, second) = a.pm(Method::POST, "/api/v1/audit/checkpoints", None).await;
    assert_eq!(s, 200, "{second}");
    let second_length = second["length"].as_u64().unwrap();
    assert!(second_length > first_length + 1);
    wait_for("B to witness A's newer checkpoint", || async {
        witnessed(&b, &id).await.1["length"] == second_length
    })
    .await;
    // What B witnessed is what an auditor verifies A's chain against: it holds now.
    let (_, seen) = witnessed(&b, &id).await;
    let published = candor_audit::Checkpoint::from_text(seen["text"].as_str().unwrap()).unwrap();
    let store = &a.server.state.store;
    assert!(
        store
            .verify_audit_against(&key, Some(&published))
            .await
            .unwrap()
            .is_ok()
    );

    // An insider rolls A back to the first checkpoint: the tail records and the newer
    // checkpoints deleted, the head fixed, a checkpoint signed again.
    tamper(
        &a,
        &[
            format!("DELETE FROM audit_log WHERE seq >= {first_length}"),
            format!("DELETE FROM audit_checkpoints WHERE length > {first_length}"),
            format!(
                "UPDATE audit_head SET length = {first_length}, head_hash = (SELECT hash FROM audit_log WHERE seq = {})",
                first_length - 1
            ),
        ],
    )
    .await;
    let signing =
        candor_server::routes::audit::audit_signing_key(&a.server.state.config.key_dir()).unwrap();
    let rolled_back = store
        .checkpoint_audit(&signing, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(rolled_back.length, first_length);
    assert!(
        store.verify_audit(&key).await.unwrap().is_ok(),
        "the rollback verifies alone"
    );

    // B refuses it, records the refusal naming the agreement, and keeps what it had.
    let refused = b.audit_when_written("federation.checkpoint.refused").await;
    assert_eq!(refused.len(), 1);
    let record = &refused[0];
    assert_eq!(record.entry.target, format!("agreement:{id}"));
    assert_eq!(record.entry.details["refusal"], "checkpoint_rollback");
    let reason = record.entry.details["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "vouches for {first_length} records, but {second_length} were witnessed"
        )),
        "{reason}"
    );
    assert_eq!(record.entry.details["refused"], rolled_back.to_text());
    assert_eq!(record.entry.details["kept"], seen["text"]);
    let (_, kept) = witnessed(&b, &id).await;
    assert_eq!(kept["length"], second_length);
    assert_eq!(kept["text"], seen["text"]);
    // A's outbox shows the refusal; it is not retried.
    wait_for("A's outbox to give the refused checkpoint up", || async {
        store
            .outbox_for(&a.server.state.keys, &id)
            .await
            .unwrap()
            .iter()
            .any(|m| {
                m.kind == "checkpoint"
                    && m.gave_up_at.is_some()
                    && m.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("HTTP 409"))
            })
    })
    .await;
    // And the checkpoint B kept catches the rollback at A.
    assert!(
        store
            .verify_audit_against(&key, Some(&published))
            .await
            .unwrap()
            .is_err()
    );

    // Auditors list what was witnessed; other roles may not.
    let (s, list) = b
        .pm(
            Method::GET,
            &format!("/api/v1/federation/witnessed?agreement={id}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["witnessed"][0]["length"], second_length);
    let (s, _) = b
        .server
        .call(
            &b.officer,
            Method::GET,
            "/api/v1/federation/witnessed",
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, none) = witnessed(&b, "no-such-agreement").await;
    assert_eq!(s, 404, "{none}");

    a.stop().await;
    b.stop().await;
}
