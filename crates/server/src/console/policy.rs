//! Policy: the document in force (retention per class, purposes, limits, look-alike budget)
//! as JSON to edit, published as a new version with a change note; and every earlier
//! version. Publishing is the API's function: same validation, same audit record.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::alerts::layout_copy;
use super::signin::duration_words;
use super::{Console, Layout, PageError, render_status, time_text};
use crate::auth::Permission;
use crate::routes::policy::{self as api, policy_in_force};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/policy", get(policy_page).post(publish))
}

pub struct VersionRow {
    pub version: i64,
    pub created: String,
    pub by: String,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    layout: Layout,
    version: i64,
    summary: Vec<(&'static str, String)>,
    document: String,
    note: String,
    error: Option<String>,
    note_error: Option<String>,
    published: Option<i64>,
    versions: Vec<VersionRow>,
}

struct Draft {
    document: Option<String>,
    note: String,
    error: Option<String>,
    note_error: Option<String>,
    published: Option<i64>,
}

async fn page(state: &AppState, c: Console, draft: Draft) -> Result<Response, PageError> {
    c.require(Permission::ManagePolicy)?;
    let policy = policy_in_force(state).await?;
    let d = &policy.document;
    let Json(versions) = api::list_versions(State(state.clone()), c.actor.clone())
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let summary = vec![
        (
            "Reads that matched nothing kept",
            duration_words(d.retention.non_hit_reads),
        ),
        ("Hits kept", duration_words(d.retention.hits)),
        ("Images kept", duration_words(d.retention.images)),
        (
            "Audit records kept",
            duration_words(d.retention.audit_records),
        ),
        (
            "Purposes",
            d.purpose_categories
                .iter()
                .map(|p| p.label.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ("Longest search range", duration_words(d.max_search_range)),
        ("Results per search", d.results_cap.to_string()),
        ("Look-alike budget", d.lookalike_budget.to_string()),
        (
            "User hot plates expire after at most",
            duration_words(d.user_hot_plate_max_expiry),
        ),
        ("Training valid for", duration_words(d.training_validity)),
    ];
    let status = if draft.error.is_some() || draft.note_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let document = draft
        .document
        .unwrap_or_else(|| serde_json::to_string_pretty(d).unwrap_or_default());
    Ok(render_status(
        status,
        &PolicyPage {
            layout: c.layout,
            version: policy.version,
            summary,
            document,
            note: draft.note,
            error: draft.error,
            note_error: draft.note_error,
            published: draft.published,
            versions: versions
                .iter()
                .map(|v| VersionRow {
                    version: v.version,
                    created: time_text(v.created_at),
                    by: v
                        .created_by
                        .map_or("first start (defaults)".into(), |id| format!("user {id}")),
                })
                .collect(),
        },
    ))
}

async fn policy_page(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    let draft = Draft {
        document: None,
        note: String::new(),
        error: None,
        note_error: None,
        published: None,
    };
    page(&state, c, draft).await
}

#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    document: String,
    #[serde(default)]
    note: String,
}

async fn publish(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<PublishForm>,
) -> Result<Response, PageError> {
    let mut draft = Draft {
        document: Some(form.document.clone()),
        note: form.note.clone(),
        error: None,
        note_error: None,
        published: None,
    };
    if form.note.trim().is_empty() {
        draft.note_error =
            Some("Say what changed and why: the note is kept with the version.".into());
        return page(&state, c, draft).await;
    }
    let body: serde_json::Value = match serde_json::from_str(&form.document) {
        Ok(v) => v,
        Err(e) => {
            draft.error = Some(format!("The document is not valid JSON: {e}"));
            return page(&state, c, draft).await;
        }
    };
    match api::publish(&state, &c.actor, body, Some(form.note.trim())).await {
        Ok(view) => {
            let draft = Draft {
                document: None,
                note: String::new(),
                error: None,
                note_error: None,
                published: Some(view.version),
            };
            page(&state, c, draft).await
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            draft.error = Some(e.message);
            page(&state, c, draft).await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}
