//! Sharing: the program manager's agreements with partner agencies (draft, sign, import the
//! partner's copy, revoke) and the record of shared queries both ways. Every action is the
//! federation API's own handler, so the checks and audit records are the same.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::alerts::layout_copy;
use super::{Console, Layout, PageError, render_status, time_text};
use crate::extract::ApiJson;
use crate::federation::manage::{self as api, RequestsQuery, RevokeRequest};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/sharing", get(sharing_page))
        .route("/console/sharing/draft", post(draft))
        .route("/console/sharing/import", post(import))
        .route("/console/sharing/{id}/sign", post(sign))
        .route("/console/sharing/{id}/revoke", post(revoke))
        .route("/console/sharing/{id}/hotlists", post(pull_hot_list))
}

/// A starting point for a draft: the terms every agreement must state.
const DRAFT_EXAMPLE: &str = r#"{
  "local": {"jurisdiction": "State, Country", "instance_url": "https://alpr.this-agency.example"},
  "partner": {"agency_name": "Partner agency", "jurisdiction": "State, Country",
              "instance_url": "https://alpr.partner.example", "public_key": "<partner key, hex>"},
  "terms": {
    "sharing": {"plate_queries": true, "hit_types": ["V"],
                "fields": ["plate", "captured_at", "camera_location"]},
    "purposes": ["stolen-vehicle"],
    "excluded_purposes": ["immigration-enforcement"],
    "limits": {"max_window": "7days", "max_results": 50},
    "recipient_retention": "30days",
    "effective": "2027-01-01T00:00:00Z", "expires": "2027-12-31T00:00:00Z"
  }
}"#;

pub struct AgreementRow {
    pub id: String,
    pub partner: String,
    pub status: String,
    pub status_reason: String,
    pub scope: String,
    pub revoked: bool,
    pub document: String,
    /// Hot lists the agreement names (either party's), to pull while it is in force.
    pub hot_lists: Vec<String>,
}

/// A hot list received from a partner.
pub struct ReceivedListRow {
    pub list_name: String,
    pub partner: String,
    pub agreement_id: String,
    pub remote_name: String,
    pub version: i64,
    pub entries: i64,
    pub imported: String,
}

pub struct RequestRow {
    pub at: String,
    pub partner: String,
    pub user: String,
    pub purpose: String,
    pub case_number: String,
    pub outcome: String,
    pub results: i64,
}

#[derive(Template)]
#[template(path = "console/sharing.html")]
struct SharingPage {
    layout: Layout,
    instance_key: String,
    agreements: Vec<AgreementRow>,
    received_lists: Vec<ReceivedListRow>,
    incoming: Vec<RequestRow>,
    outgoing: Vec<RequestRow>,
    draft: String,
    import: String,
    message: Option<String>,
    draft_error: Option<String>,
    import_error: Option<String>,
    action_error: Option<String>,
}

#[derive(Default)]
struct Outcome {
    draft: Option<String>,
    import: Option<String>,
    message: Option<String>,
    draft_error: Option<String>,
    import_error: Option<String>,
    action_error: Option<String>,
}

async fn requests(
    state: &AppState,
    c: &Console,
    direction: &str,
) -> Result<Vec<RequestRow>, PageError> {
    let Json(list) = api::federation_requests(
        State(state.clone()),
        c.actor.clone(),
        Query(RequestsQuery {
            direction: Some(direction.into()),
            limit: Some(50),
        }),
    )
    .await
    .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    Ok(list
        .requests
        .into_iter()
        .map(|r| RequestRow {
            at: time_text(r.at),
            partner: r.partner_agency,
            user: format!("{} ({})", r.user_name, r.user_role),
            purpose: r.purpose_category,
            case_number: r.case_number,
            outcome: if r.reason.is_empty() {
                r.outcome
            } else {
                format!("{}: {}", r.outcome, r.reason)
            },
            results: r.result_count,
        })
        .collect())
}

async fn page(state: &AppState, c: Console, out: Outcome) -> Result<Response, PageError> {
    let Json(list) = api::list_agreements(State(state.clone()), c.actor.clone())
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let incoming = requests(state, &c, "incoming").await?;
    let outgoing = requests(state, &c, "outgoing").await?;
    let received = state
        .store
        .partner_hot_lists()
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e.into()))?;
    let failed =
        out.draft_error.is_some() || out.import_error.is_some() || out.action_error.is_some();
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render_status(
        status,
        &SharingPage {
            layout: c.layout,
            instance_key: list.instance_public_key,
            agreements: list
                .agreements
                .into_iter()
                .map(|a| AgreementRow {
                    hot_lists: if a.status == "in_force" {
                        a.document["agreement"]["sharing"]["hot_lists"]
                            .as_array()
                            .map(|l| {
                                l.iter()
                                    .filter_map(|n| n.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    revoked: a.revocation.is_some(),
                    id: a.id,
                    partner: a.partner_agency,
                    status: a.status,
                    status_reason: a.status_reason.unwrap_or_default(),
                    scope: a.scope,
                    document: serde_json::to_string_pretty(&a.document).unwrap_or_default(),
                })
                .collect(),
            received_lists: received
                .into_iter()
                .map(|l| ReceivedListRow {
                    list_name: l.list_name,
                    partner: l.partner_agency,
                    agreement_id: l.agreement_id,
                    remote_name: l.remote_name,
                    version: l.remote_version,
                    entries: l.entry_count,
                    imported: format!("{} by {}", time_text(l.imported_at), l.imported_by),
                })
                .collect(),
            incoming,
            outgoing,
            draft: out.draft.unwrap_or_else(|| DRAFT_EXAMPLE.to_string()),
            import: out.import.unwrap_or_default(),
            message: out.message,
            draft_error: out.draft_error,
            import_error: out.import_error,
            action_error: out.action_error,
        },
    ))
}

async fn sharing_page(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    page(&state, c, Outcome::default()).await
}

#[derive(Deserialize)]
struct DocumentForm {
    #[serde(default)]
    document: String,
}

async fn draft(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<DocumentForm>,
) -> Result<Response, PageError> {
    let mut out = Outcome {
        draft: Some(form.document.clone()),
        ..Outcome::default()
    };
    let req = match serde_json::from_str::<api::DraftRequest>(&form.document) {
        Ok(r) => r,
        Err(e) => {
            out.draft_error = Some(format!("The draft is not a valid agreement request: {e}"));
            return page(&state, c, out).await;
        }
    };
    match api::draft_agreement(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(req),
    )
    .await
    {
        Ok((_, Json(view))) => {
            out.draft = None;
            out.message = Some(format!(
                "Agreement {} with {} drafted. Sign it below, then send the signed document to the partner.",
                view.id, view.partner_agency
            ));
        }
        Err(e) if e.is_correctable() => out.draft_error = Some(e.message),
        Err(e) => return Err(PageError::within(c.layout, e)),
    }
    page(&state, c, out).await
}

async fn import(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<DocumentForm>,
) -> Result<Response, PageError> {
    let mut out = Outcome {
        import: Some(form.document.clone()),
        ..Outcome::default()
    };
    let doc = match serde_json::from_str(&form.document) {
        Ok(d) => d,
        Err(e) => {
            out.import_error = Some(format!("This is not a signed agreement document: {e}"));
            return page(&state, c, out).await;
        }
    };
    match api::import_agreement(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(doc),
    )
    .await
    {
        Ok(Json(view)) => {
            out.import = None;
            out.message = Some(format!(
                "Imported the signed copy of agreement {}: its status is {}.",
                view.id, view.status
            ));
        }
        Err(e) if e.is_correctable() => out.import_error = Some(e.message),
        Err(e) => return Err(PageError::within(c.layout, e)),
    }
    page(&state, c, out).await
}

async fn sign(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let mut out = Outcome::default();
    match api::sign_agreement(State(state.clone()), c.actor.clone(), Path(id)).await {
        Ok(Json(view)) => {
            out.message = Some(format!(
                "Signed agreement {}: send the document shown with it to {}.",
                view.id, view.partner_agency
            ))
        }
        Err(e) if e.is_correctable() => out.action_error = Some(e.message),
        Err(e) => return Err(PageError::within(c.layout, e)),
    }
    page(&state, c, out).await
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    let mut out = Outcome::default();
    let body = ApiJson::from_value(RevokeRequest {
        reason: form.reason,
    });
    match api::revoke_agreement(State(state.clone()), c.actor.clone(), Path(id), body).await {
        Ok(Json(view)) => {
            out.message = Some(format!(
                "Agreement {} is revoked: no request under it is answered any more, and {} is being told.",
                view.id, view.partner_agency
            ))
        }
        Err(e) if e.is_correctable() => out.action_error = Some(e.message),
        Err(e) => return Err(PageError::within(c.layout, e)),
    }
    page(&state, c, out).await
}

#[derive(Deserialize)]
struct PullForm {
    #[serde(default)]
    name: String,
}

/// Pulls a hot list the agreement names from the partner, replacing the local copy.
async fn pull_hot_list(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(form): Form<PullForm>,
) -> Result<Response, PageError> {
    let mut out = Outcome::default();
    match crate::federation::hotlists::import_partner_list(
        State(state.clone()),
        c.actor.clone(),
        Path((id, form.name)),
    )
    .await
    {
        Ok((_, Json(import))) => {
            out.message = Some(format!(
                "Imported {} entries of {:?} from {} as hot list {:?}.",
                import.origin.entry_count,
                import.origin.remote_name,
                import.origin.partner_agency,
                import.list.name
            ))
        }
        // A refusal (here or by the partner) or an unreachable partner: said on the page.
        Err(e)
            if e.is_correctable()
                || e.status == StatusCode::FORBIDDEN
                || e.status == StatusCode::BAD_GATEWAY =>
        {
            out.action_error = Some(e.message)
        }
        Err(e) => return Err(PageError::within(c.layout, e)),
    }
    page(&state, c, out).await
}
