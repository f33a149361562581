//! Audit: browse and filter the log, run a verification of the whole chain and see the
//! result, and the review queue (approve or raise a concern, with a note). Each goes through
//! the API's handler, so reading the log and verifying it are audited the same way.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::alerts::layout_copy;
use super::{Console, Layout, PageError, parse_datetime_local, render, render_status, time_text};
use crate::routes::audit::{self as api, AuditQuery, AuditRecordView, VerifyAnswer};
use crate::routes::reviews::{self, QueueQuery};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/audit", get(audit_page))
        .route("/console/audit/verify", post(verify))
        .route("/console/audit/reviews", get(reviews_page))
        .route("/console/audit/reviews/{id}", post(review))
}

#[derive(Deserialize, Default)]
pub struct AuditFilterForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    pub before: Option<u64>,
}

pub struct RecordRow {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub source: String,
    pub details: String,
}

fn actor_text(v: &serde_json::Value) -> String {
    let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let name = ["name", "claimed", "component", "agency"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|n| n.as_str()));
    match (kind, name) {
        (_, Some(n)) if !kind.is_empty() => format!("{n} ({kind})"),
        (_, Some(n)) => n.to_string(),
        _ => v.to_string(),
    }
}

fn record_row(r: &AuditRecordView) -> RecordRow {
    RecordRow {
        seq: r.seq,
        time: time_text(r.time),
        actor: actor_text(&r.actor),
        action: r.action.clone(),
        target: r.target.clone(),
        outcome: r.outcome.clone(),
        source: r.source.clone(),
        details: if r.details.as_object().is_some_and(|o| o.is_empty()) {
            String::new()
        } else {
            r.details.to_string()
        },
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    layout: Layout,
    filter: AuditFilterForm,
    filter_error: Option<String>,
    rows: Vec<RecordRow>,
    /// Query string of the next (older) page, when there is one.
    older: Option<String>,
    verdict: Option<VerifyAnswer>,
}

const PAGE: i64 = 100;

async fn audit_page(
    State(state): State<AppState>,
    c: Console,
    Query(filter): Query<AuditFilterForm>,
) -> Result<Response, PageError> {
    listing(&state, c, filter, None).await
}

async fn listing(
    state: &AppState,
    c: Console,
    filter: AuditFilterForm,
    verdict: Option<VerifyAnswer>,
) -> Result<Response, PageError> {
    let time = |s: &str| -> Result<Option<i64>, ()> {
        if s.trim().is_empty() {
            Ok(None)
        } else {
            parse_datetime_local(s).map(Some).ok_or(())
        }
    };
    let (from, to) = match (time(&filter.from), time(&filter.to)) {
        (Ok(f), Ok(t)) => (f, t),
        _ => {
            let page = AuditPage {
                layout: c.layout,
                filter,
                filter_error: Some(
                    "Give times as date and time (UTC), or leave them empty.".into(),
                ),
                rows: Vec::new(),
                older: None,
                verdict,
            };
            return Ok(render_status(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                &page,
            ));
        }
    };
    let q = AuditQuery {
        action: Some(filter.action.trim().to_string()).filter(|s| !s.is_empty()),
        target: Some(filter.target.trim().to_string()).filter(|s| !s.is_empty()),
        from,
        to,
        before: filter.before,
        limit: Some(PAGE),
    };
    let Json(records) = api::list_audit(State(state.clone()), c.actor.clone(), Query(q))
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let next_before = (records.len() as i64 == PAGE)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    let older = next_before.map(|b| filter.next_page(b));
    Ok(render(&AuditPage {
        layout: c.layout,
        filter,
        filter_error: None,
        rows: records.iter().map(record_row).collect(),
        older,
        verdict,
    }))
}

impl AuditFilterForm {
    /// The query string for the next page of the same filter.
    pub fn next_page(&self, before: u64) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("action", &self.action)
            .append_pair("target", &self.target)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .append_pair("before", &before.to_string())
            .finish()
    }
}

/// Verifies the whole chain now and shows the verdict above the newest records.
async fn verify(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    let Json(answer) = api::verify_audit(State(state.clone()), c.actor.clone())
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    listing(&state, c, AuditFilterForm::default(), Some(answer)).await
}

pub struct ReviewRow {
    pub id: i64,
    pub reasons: String,
    pub queued: String,
    pub searcher: String,
    pub search_time: String,
    pub purpose: String,
    pub query: String,
    pub results: String,
    pub verdict: Option<String>,
    pub note: String,
    pub reviewed: String,
}

#[derive(Template)]
#[template(path = "console/reviews.html")]
struct ReviewsPage {
    layout: Layout,
    rows: Vec<ReviewRow>,
    pending: i64,
    approved: i64,
    concern: i64,
    showing_reviewed: bool,
    /// The review whose form was refused (0: none), and why.
    error_id: i64,
    error_message: String,
}

#[derive(Deserialize)]
struct ReviewsQuery {
    status: Option<String>,
}

fn field(v: &serde_json::Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(next) => cur = next,
            None => return String::new(),
        }
    }
    match cur {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn reviews_listing(
    state: &AppState,
    c: Console,
    reviewed: bool,
    error: Option<(i64, String)>,
) -> Result<Response, PageError> {
    let q = QueueQuery {
        status: Some(if reviewed { "reviewed" } else { "pending" }.into()),
        limit: Some(100),
    };
    let Json(queue) = reviews::list_reviews(State(state.clone()), c.actor.clone(), Query(q))
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let rows = queue
        .items
        .iter()
        .map(|i| {
            let s = i.search.as_ref();
            let details = s.map(|s| s.details.clone()).unwrap_or(json!({}));
            ReviewRow {
                id: i.id,
                reasons: i.reasons.join(", ").replace('_', " "),
                queued: time_text(i.created_at),
                searcher: s.map(|s| actor_text(&s.actor)).unwrap_or_default(),
                search_time: s.map(|s| time_text(s.time)).unwrap_or_default(),
                purpose: format!(
                    "{} · case {} · {}",
                    field(&details, &["purpose", "category"]),
                    field(&details, &["purpose", "case_number"]),
                    field(&details, &["purpose", "free_text"])
                ),
                query: format!(
                    "{} search for {}, look-alikes {}, {} to {}",
                    field(&details, &["query", "kind"]),
                    field(&details, &["query", "plate"]),
                    match details
                        .pointer("/query/lookalike_budget")
                        .and_then(|v| v.as_u64())
                    {
                        Some(budget) if budget > 0 => format!("on (up to {budget})"),
                        _ => "off".to_string(),
                    },
                    details
                        .pointer("/query/from")
                        .and_then(|v| v.as_i64())
                        .map(time_text)
                        .unwrap_or_default(),
                    details
                        .pointer("/query/to")
                        .and_then(|v| v.as_i64())
                        .map(time_text)
                        .unwrap_or_default(),
                ),
                results: field(&details, &["results"]),
                verdict: i.verdict.clone(),
                note: i.note.clone().unwrap_or_default(),
                reviewed: i.reviewed_at.map(time_text).unwrap_or_default(),
            }
        })
        .collect();
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok(render_status(
        status,
        &ReviewsPage {
            layout: c.layout,
            rows,
            pending: queue.pending,
            approved: queue.approved,
            concern: queue.concern,
            showing_reviewed: reviewed,
            error_id: error.as_ref().map_or(0, |e| e.0),
            error_message: error.map(|e| e.1).unwrap_or_default(),
        },
    ))
}

async fn reviews_page(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<ReviewsQuery>,
) -> Result<Response, PageError> {
    let reviewed = q.status.as_deref() == Some("reviewed");
    reviews_listing(&state, c, reviewed, None).await
}

#[derive(Deserialize)]
struct ReviewForm {
    verdict: String,
    #[serde(default)]
    note: String,
}

async fn review(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    let body = json!({"verdict": form.verdict, "note": form.note});
    match reviews::review_search(State(state.clone()), c.actor.clone(), Path(id), Json(body)).await
    {
        Ok(_) => Ok(Redirect::to("/console/audit/reviews").into_response()),
        Err(e) if e.status == axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
            reviews_listing(&state, c, false, Some((id, e.message))).await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}
