//! Hit verification (issue 26): a verdict cannot contradict its action; a mis-click is
//! corrected by an audited amendment with a note, and reports, the transparency page and
//! the alert card follow the correction. And the hit list without a purpose reaches only
//! the policy's live alert horizon.

mod common;

use common::{TestServer, TestSession, at};
use serde_json::{Value, json};

async fn hit(server: &TestServer, key: &str, idem: &str, plate: &str, offset_secs: i64) -> i64 {
    let (s, b) = server
        .post_json(
            "/api/v1/reads",
            key,
            &json!({"idempotency_key": idem,
                "reads": [{"plate": plate, "confidence": 0.9, "captured_at": at(offset_secs)}]}),
        )
        .await;
    assert_eq!((s, &b["hits"]), (201, &json!(1)), "{b}");
    let reads = server.stored_reads(plate).await;
    let hits = server
        .state
        .store
        .hits_for_reads(&server.state.keys, &[reads[0].id])
        .await
        .unwrap();
    hits[0].id
}

async fn post(server: &TestServer, s: &TestSession, path: &str, body: Value) -> (u16, Value) {
    server
        .call(s, reqwest::Method::POST, path, Some(&body))
        .await
}

async fn this_years_figures(server: &TestServer, auditor: &TestSession) -> Value {
    let (s, b) = server
        .call(
            auditor,
            reqwest::Method::GET,
            "/api/v1/reports/usage?period=year",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["report"]["totals"].clone()
}

async fn public_arrests(server: &TestServer) -> Value {
    let page: Value = server
        .client
        .get(server.url("/transparency.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let years = page["metrics"]["years"].as_array().unwrap().clone();
    years.last().unwrap()["figures"]["arrests"].clone()
}

#[tokio::test]
async fn a_verdict_cannot_contradict_its_action_and_corrections_are_amendments() {
    for server in TestServer::start_all().await {
        let officer = server.create_user("officer1", "officer").await;
        let o = server.session_for(&officer).await;
        let auditor = server.create_user("audrey", "auditor").await;
        let a = server.session_for(&auditor).await;
        let key = server.camera("cam-v").await;
        server
            .hot_list(
                "State",
                "V",
                "plate,state,reason\nMIS111,CA,stolen\nWST222,CA,stolen\nOK3333,CA,stolen\n",
            )
            .await;

        // A misread may not lead to an arrest (nor a stop); "none" is always allowed.
        let misread = hit(&server, &key, "v1", "MIS111", -5).await;
        let (s, b) = post(
            &server,
            &o,
            &format!("/api/v1/hits/{misread}/disposition"),
            json!({"disposition": "misread"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        for action in ["arrest", "stop", "other"] {
            let (s, b) = post(
                &server,
                &o,
                &format!("/api/v1/hits/{misread}/action"),
                json!({"action": action}),
            )
            .await;
            assert_eq!(
                (s, b["error"]["code"].as_str()),
                (409, Some("verdict_forbids_action")),
                "{b}"
            );
        }

        // A wrong-state read leads to an action only once confirmed against the entry.
        let wrong_state = hit(&server, &key, "v2", "WST222", -4).await;
        post(
            &server,
            &o,
            &format!("/api/v1/hits/{wrong_state}/disposition"),
            json!({"disposition": "wrong_state"}),
        )
        .await;
        let (s, b) = post(
            &server,
            &o,
            &format!("/api/v1/hits/{wrong_state}/action"),
            json!({"action": "stop"}),
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (409, Some("wrong_state_not_confirmed")),
            "{b}"
        );
        let (s, b) = post(
            &server,
            &o,
            &format!("/api/v1/hits/{wrong_state}/action"),
            json!({"action": "stop", "confirmed_against_entry": true}),
        )
        .await;
        assert_eq!(
            (s, &b["confirmed_against_entry"]),
            (200, &json!(true)),
            "{b}"
        );

        // A correct read, then an arrest: counted in reports and on /transparency.
        let correct = hit(&server, &key, "v3", "OK3333", -3).await;
        post(
            &server,
            &o,
            &format!("/api/v1/hits/{correct}/disposition"),
            json!({"disposition": "correct_read"}),
        )
        .await;
        let (s, b) = post(
            &server,
            &o,
            &format!("/api/v1/hits/{correct}/action"),
            json!({"action": "arrest"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(this_years_figures(&server, &a).await["arrests"], 1);
        assert_eq!(public_arrests(&server).await, 1);

        // The record is never edited: a second verdict or action is a conflict.
        let (s, _) = post(
            &server,
            &o,
            &format!("/api/v1/hits/{correct}/disposition"),
            json!({"disposition": "misread"}),
        )
        .await;
        assert_eq!(s, 409);

        // The verdict was a mis-click: correcting it to misread while an arrest stands is
        // refused (the action must be corrected first), and a correction needs a note.
        let path = format!("/api/v1/hits/{correct}/amendments");
        let (s, b) = post(
            &server,
            &o,
            &path,
            json!({"disposition": "misread", "note": "clicked the wrong button"}),
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (409, Some("verdict_contradicts_action")),
            "{b}"
        );
        let (s, b) = post(&server, &o, &path, json!({"action": "none", "note": "  "})).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (409, Some("amendment_needs_note")),
            "{b}"
        );
        let (s, _) = post(
            &server,
            &o,
            &path,
            json!({"action": "none", "disposition": "misread", "note": "x"}),
        )
        .await;
        assert_eq!(s, 400);
        let (s, b) = post(
            &server,
            &o,
            &path,
            json!({"action": "none", "note": "no arrest was made; wrong button"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = post(
            &server,
            &o,
            &path,
            json!({"disposition": "misread", "note": "the plate read was OK3338"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["disposition"]["value"], "misread");
        assert_eq!(b["action"]["value"], "none");
        let amendments = b["amendments"].as_array().unwrap();
        assert_eq!(amendments.len(), 2);
        assert_eq!(
            (
                &amendments[0]["field"],
                &amendments[0]["previous"],
                &amendments[0]["amended_to"]
            ),
            (&json!("action"), &json!("arrest"), &json!("none"))
        );
        assert_eq!(amendments[1]["by_username"], "officer1");
        assert_eq!(amendments[1]["note"], "the plate read was OK3338");
        // A misread cannot be amended back into an arrest either.
        let (s, _) = post(
            &server,
            &o,
            &path,
            json!({"action": "arrest", "note": "again"}),
        )
        .await;
        assert_eq!(s, 409);

        // The first record stays as it was, beside the amendments.
        let row: (Option<String>, Option<String>) =
            sqlx::query_as("SELECT disposition, action FROM hits WHERE id = $1")
                .bind(correct)
                .fetch_one(server.state.store.pool())
                .await
                .unwrap();
        assert_eq!(row, (Some("correct_read".into()), Some("arrest".into())));

        // Reports and the transparency page count what stands now.
        let f = this_years_figures(&server, &a).await;
        assert_eq!(
            (f["arrests"].clone(), f["stops"].clone()),
            (json!(0), json!(1)),
            "{f}"
        );
        assert_eq!(public_arrests(&server).await, 0);

        // Each amendment is in the audit log.
        let n: (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'hit.amendment'")
                .fetch_one(server.state.store.pool())
                .await
                .unwrap();
        assert_eq!(n.0, 2);

        // The card says the truth: no green VERIFIED, no Stop or Arrest after a misread.
        let card = server
            .client
            .get(server.url(&format!("/console/alerts/hits/{misread}")))
            .header("cookie", format!("candor_session={}", o.token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(card.contains("Not a match: do not act"), "{card}");
        assert!(!card.contains("status-verified"), "{card}");
        assert!(
            !card.contains("value=\"arrest\"") && !card.contains("value=\"stop\""),
            "{card}"
        );
        assert!(card.contains("value=\"none\""), "{card}");
        server.stop().await;
    }
}

#[tokio::test]
async fn hits_are_listed_without_a_purpose_only_within_the_live_alert_horizon() {
    for server in TestServer::start_all().await {
        let officer = server.create_user("officer1", "officer").await;
        let o = server.session_for(&officer).await;
        let key = server.camera("cam-h").await;
        server
            .hot_list(
                "State",
                "V",
                "plate,state,reason\nOLD111,CA,stolen\nNEW222,CA,stolen\n",
            )
            .await;
        let old = hit(&server, &key, "h1", "OLD111", -3 * 86_400).await;
        // A hit's created_at is its ingest time: make this one two days old.
        sqlx::query("UPDATE hits SET created_at = created_at - 172800000 WHERE id = $1")
            .bind(old)
            .execute(server.state.store.pool())
            .await
            .unwrap();
        let new = hit(&server, &key, "h2", "NEW222", -60).await;

        // The live list: the last 24 hours.
        let (s, b) = server
            .call(&o, reqwest::Method::GET, "/api/v1/hits", None)
            .await;
        assert_eq!(s, 200, "{b}");
        let ids: Vec<i64> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![new]);

        // Reaching further back without a purpose is refused, saying where to go.
        let (s, b) = server
            .call(
                &o,
                reqwest::Method::GET,
                "/api/v1/hits?from=0&to=99999999999999",
                None,
            )
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (422, Some("outside_alert_horizon")),
            "{b}"
        );
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("1 day") && msg.contains("/api/v1/search/hits"),
            "{msg}"
        );
        assert!(!b.to_string().contains("OLD111"));

        // A client whose clock is a little behind still gets the live list.
        let from = candor_store::now_ms() - 86_400_000 - 60_000;
        let (s, _) = server
            .call(
                &o,
                reqwest::Method::GET,
                &format!("/api/v1/hits?from={from}"),
                None,
            )
            .await;
        assert_eq!(s, 200);

        // Nor does a hit open by its id past the horizon (numbers are easy to count).
        let (s, _) = server
            .call(
                &o,
                reqwest::Method::GET,
                &format!("/api/v1/hits/{new}"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        let (s, b) = server
            .call(
                &o,
                reqwest::Method::GET,
                &format!("/api/v1/hits/{old}"),
                None,
            )
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (403, Some("outside_alert_horizon")),
            "{b}"
        );
        assert!(!b.to_string().contains("OLD111"));
        server.stop().await;
    }
}

/// The last audit record of `action`, oldest first in the log.
async fn last_record(server: &TestServer, action: &str) -> candor_audit::AuditRecord {
    let records = server.state.store.audit_records(0, 100_000).await.unwrap();
    records
        .into_iter()
        .rev()
        .find(|r| r.entry.action == action)
        .unwrap_or_else(|| panic!("no {action} record"))
}

#[tokio::test]
async fn a_hit_past_the_horizon_opens_and_is_corrected_only_from_a_search_of_hits_that_listed_it() {
    for server in TestServer::start_all().await {
        let ivy = server.create_user("ivy", "investigator").await;
        let i = server.session_for(&ivy).await;
        let ian = server.create_user("ian", "investigator").await;
        let n = server.session_for(&ian).await;
        let key = server.camera("cam-old").await;
        server
            .hot_list(
                "State",
                "V",
                "plate,state,reason\nOLD111,CA,stolen\nOTH333,CA,stolen\n",
            )
            .await;
        let old = hit(&server, &key, "o1", "OLD111", -3 * 86_400).await;
        let other = hit(&server, &key, "o2", "OTH333", -3 * 86_400).await;
        // Both hits were made two days ago: past the live alert horizon (24 hours).
        for id in [old, other] {
            sqlx::query("UPDATE hits SET created_at = created_at - 172800000 WHERE id = $1")
                .bind(id)
                .execute(server.state.store.pool())
                .await
                .unwrap();
        }

        let now = candor_store::now_ms();
        let purpose = json!({"category": "property-crime", "case_number": "2026-000777",
            "free_text": "reviewing yesterday's alerts"});
        let search = |s: &TestSession, path: &'static str, plate: &'static str| {
            let body = json!({"plate": plate, "from": now - 4 * 86_400_000, "to": now + 1000,
                "purpose": purpose.clone()});
            let s = s.clone();
            let server = &server;
            async move {
                let (st, b) = post(server, &s, path, body).await;
                assert_eq!(st, 200, "{b}");
                b["audit_seq"].as_u64().unwrap()
            }
        };
        let ivys = search(&i, "/api/v1/search/hits", "OLD111").await;
        let ians = search(&n, "/api/v1/search/hits", "OLD111").await;
        let ivys_other = search(&i, "/api/v1/search/hits", "OTH333").await;
        let ivys_reads = search(&i, "/api/v1/search/reads", "OLD111").await;

        let get = |s: &TestSession, path: String| {
            let s = s.clone();
            let server = &server;
            async move { server.call(&s, reqwest::Method::GET, &path, None).await }
        };
        let code = |b: &Value| b["error"]["code"].as_str().map(str::to_string);

        // Without a search, the refusal says how to open it.
        let (s, b) = get(&i, format!("/api/v1/hits/{old}")).await;
        assert_eq!(
            (s, code(&b).as_deref()),
            (403, Some("outside_alert_horizon"))
        );
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("?search="), "{msg}");
        assert!(!b.to_string().contains("OLD111"));

        // From the search of hits that listed it: it opens, and the view names the search.
        let (s, b) = get(&i, format!("/api/v1/hits/{old}?search={ivys}")).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["id"], json!(old));
        let view = last_record(&server, "hit.view").await;
        assert_eq!(view.entry.target, format!("hit:{old}"));
        assert_eq!(view.entry.details["search_seq"], json!(ivys));
        assert_eq!(view.entry.details["purpose"]["case_number"], "2026-000777");

        // A made-up search, someone else's, one that did not list it, or a search of reads.
        for (seq, want) in [
            (999_999, "not_your_search"),
            (ians, "not_your_search"),
            (ivys_other, "not_listed"),
            (ivys_reads, "not_listed"),
        ] {
            let (s, b) = get(&i, format!("/api/v1/hits/{old}?search={seq}")).await;
            assert_eq!(
                (s, code(&b).as_deref()),
                (403, Some(want)),
                "search {seq}: {b}"
            );
            assert!(!b.to_string().contains("OLD111"));
        }
        let denied = last_record(&server, "hit.view").await;
        assert_eq!(denied.entry.outcome, candor_audit::Outcome::Denied);

        // Verified and corrected the next morning, from the same search.
        let (s, b) = post(
            &server,
            &i,
            &format!("/api/v1/hits/{old}/disposition"),
            json!({"disposition": "misread"}),
        )
        .await;
        assert_eq!(
            (s, code(&b).as_deref()),
            (403, Some("outside_alert_horizon"))
        );
        let (s, b) = post(
            &server,
            &i,
            &format!("/api/v1/hits/{old}/disposition?search={ivys}"),
            json!({"disposition": "misread"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let verdict = last_record(&server, "hit.disposition").await;
        assert_eq!(verdict.entry.details["search_seq"], json!(ivys));
        assert_eq!(
            verdict.entry.details["purpose"]["case_number"],
            "2026-000777"
        );

        let fix = json!({"disposition": "correct_read", "note": "mis-click: the plate matches"});
        for (who, seq, want) in [
            (&n, ivys, "not_your_search"),
            (&i, ivys_other, "not_listed"),
        ] {
            let (s, b) = post(
                &server,
                who,
                &format!("/api/v1/hits/{old}/amendments?search={seq}"),
                fix.clone(),
            )
            .await;
            assert_eq!((s, code(&b).as_deref()), (403, Some(want)), "{b}");
        }
        let (s, b) = post(
            &server,
            &i,
            &format!("/api/v1/hits/{old}/amendments?search={ivys}"),
            fix.clone(),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["disposition"]["value"], "correct_read", "{b}");
        assert_eq!(b["amendments"].as_array().unwrap().len(), 1);
        let amended = last_record(&server, "hit.amendment").await;
        assert_eq!(amended.entry.details["search_seq"], json!(ivys));
        assert_eq!(
            amended.entry.details["purpose"]["case_number"],
            "2026-000777"
        );

        // The other user's own search opens it for them.
        let (s, _) = get(&n, format!("/api/v1/hits/{old}?search={ians}")).await;
        assert_eq!(s, 200);
        server.stop().await;
    }
}

/// Makes the audit log refuse records of `action` (a full disk, a lost connection), so the
/// test can see what an action leaves behind when its audit record fails.
async fn audit_refuses(server: &TestServer, action: &str, refuse: bool) {
    let pool = server.state.store.pool();
    let statements: Vec<String> = match (server.state.store.backend(), refuse) {
        (candor_store::Backend::Sqlite, true) => vec![format!(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.action = '{action}' \
             BEGIN SELECT RAISE(ABORT, 'the audit log is unavailable'); END"
        )],
        (candor_store::Backend::Sqlite, false) => vec!["DROP TRIGGER refuse_audit".into()],
        (candor_store::Backend::Postgres, true) => vec![
            format!(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.action = '{action}' THEN RAISE EXCEPTION 'the audit log is unavailable'; END IF; \
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()".into(),
        ],
        (candor_store::Backend::Postgres, false) => vec![
            "DROP TRIGGER refuse_audit ON audit_log".into(),
            "DROP FUNCTION refuse_audit()".into(),
        ],
    };
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_verdict_and_its_audit_record_commit_together_and_no_view_is_recorded_with_it() {
    for server in TestServer::start_all().await {
        let officer = server.create_user("officer1", "officer").await;
        let o = server.session_for(&officer).await;
        let key = server.camera("cam-t").await;
        server
            .hot_list("State", "V", "plate,state,reason\nTXN111,CA,stolen\n")
            .await;
        let id = hit(&server, &key, "t1", "TXN111", -30).await;
        let verdict = json!({"disposition": "correct_read"});
        let path = format!("/api/v1/hits/{id}/disposition");

        // The audit log fails: the verdict is not kept either.
        audit_refuses(&server, "hit.disposition", true).await;
        let (s, b) = post(&server, &o, &path, verdict.clone()).await;
        assert_eq!(s, 500, "{b}");
        audit_refuses(&server, "hit.disposition", false).await;
        let h = server
            .state
            .store
            .get_hit(&server.state.keys, id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            h.disposition.is_none(),
            "a verdict without its audit record: {h:?}"
        );

        // It works: the verdict and one record of it, and no record of a view beside it.
        let views = last_records(&server, "hit.view").await;
        let (s, b) = post(&server, &o, &path, verdict).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["disposition"]["value"], "correct_read", "{b}");
        let recorded = last_records(&server, "hit.disposition").await;
        assert_eq!(recorded.len(), 1);
        // Filed under the officer's address, as their searches are, not a channel name.
        assert_eq!(recorded[0].entry.source, "127.0.0.1");
        assert_eq!(last_records(&server, "hit.view").await.len(), views.len());
        let (s, b) = post(
            &server,
            &o,
            &format!("/api/v1/hits/{id}/action"),
            json!({"action": "stop"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(last_records(&server, "hit.view").await.len(), views.len());
        server.stop().await;
    }
}

async fn last_records(server: &TestServer, action: &str) -> Vec<candor_audit::AuditRecord> {
    server
        .state
        .store
        .search_audit(&candor_store::audit_log::AuditFilter {
            action_prefix: Some(action.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}
