//! Sharing: the program manager's agreements with partner agencies (draft with a form or as
//! JSON, sign, import the partner's copy, revoke) and the record of shared queries both
//! ways. Every action is the federation API's own handler, so the checks and audit records
//! are the same: the form only writes the draft request the API takes.

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
        .route("/console/sharing/draft-form", post(draft_from_form))
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
    form: AgreementFields,
    form_error: Option<String>,
    hit_type_choices: Vec<Choice>,
    field_choices: Vec<Choice>,
    purpose_choices: Vec<Choice>,
    excluded_choices: Vec<Choice>,
    draft: String,
    import: String,
    message: Option<String>,
    draft_error: Option<String>,
    import_error: Option<String>,
    action_error: Option<String>,
}

/// The draft form as typed (re-shown as typed when the API refuses the draft).
#[derive(Debug, Clone)]
struct AgreementFields {
    local_jurisdiction: String,
    local_url: String,
    partner_agency: String,
    partner_jurisdiction: String,
    partner_url: String,
    partner_key: String,
    plate_queries: bool,
    hit_types: Vec<String>,
    hot_lists: String,
    fields: Vec<String>,
    purposes: Vec<String>,
    excluded_purposes: Vec<String>,
    max_window: String,
    max_results: String,
    partial_plates: bool,
    lookalike: bool,
    recipient_retention: String,
    effective: String,
    expires: String,
}

impl AgreementFields {
    /// What the form offers before anything is typed: the narrowest useful agreement.
    fn first(policy: &candor_policy::PolicyDocument) -> Self {
        let today = chrono::Utc::now().date_naive();
        AgreementFields {
            local_jurisdiction: String::new(),
            local_url: String::new(),
            partner_agency: String::new(),
            partner_jurisdiction: String::new(),
            partner_url: String::new(),
            partner_key: String::new(),
            plate_queries: true,
            hit_types: Vec::new(),
            hot_lists: String::new(),
            fields: vec![
                "plate".into(),
                "captured_at".into(),
                "camera_location".into(),
            ],
            purposes: Vec::new(),
            excluded_purposes: policy
                .forbidden_categories
                .iter()
                .map(|c| c.code.clone())
                .collect(),
            max_window: "7 days".into(),
            max_results: "50".into(),
            partial_plates: false,
            lookalike: false,
            recipient_retention: "30 days".into(),
            effective: today.to_string(),
            expires: (today + chrono::Days::new(365)).to_string(),
        }
    }

    /// The form's fields; a box left unticked is absent, so it reads as off.
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let one = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let all = |name: &str| {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        AgreementFields {
            local_jurisdiction: one("local_jurisdiction"),
            local_url: one("local_url"),
            partner_agency: one("partner_agency"),
            partner_jurisdiction: one("partner_jurisdiction"),
            partner_url: one("partner_url"),
            partner_key: one("partner_key"),
            plate_queries: !one("plate_queries").is_empty(),
            hit_types: all("hit_types"),
            hot_lists: one("hot_lists"),
            fields: all("fields"),
            purposes: all("purposes"),
            excluded_purposes: all("excluded_purposes"),
            max_window: one("max_window"),
            max_results: one("max_results"),
            partial_plates: !one("partial_plates").is_empty(),
            lookalike: !one("lookalike").is_empty(),
            recipient_retention: one("recipient_retention"),
            effective: one("effective"),
            expires: one("expires"),
        }
    }

    /// The draft request the API takes, or what to fix first.
    fn request(&self) -> Result<serde_json::Value, String> {
        let max_results: u32 = self.max_results.parse().map_err(|_| {
            format!(
                "Most reads per answer: {:?} is not a whole number (e.g. 50).",
                self.max_results
            )
        })?;
        let day = |name: &str, text: &str| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| format!("{d}T00:00:00Z"))
                .map_err(|_| format!("{name}: {text:?} is not a date (YYYY-MM-DD)."))
        };
        Ok(serde_json::json!({
            "local": {"jurisdiction": self.local_jurisdiction, "instance_url": self.local_url},
            "partner": {"agency_name": self.partner_agency, "jurisdiction": self.partner_jurisdiction,
                        "instance_url": self.partner_url, "public_key": self.partner_key},
            "terms": {
                "sharing": {
                    "plate_queries": self.plate_queries,
                    "hit_types": self.hit_types,
                    "hot_lists": self.hot_lists.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(),
                    "fields": self.fields,
                },
                "purposes": self.purposes,
                "excluded_purposes": self.excluded_purposes,
                "limits": {"max_window": self.max_window, "max_results": max_results,
                           "partial_plates": self.partial_plates, "lookalike": self.lookalike},
                "recipient_retention": self.recipient_retention,
                "effective": day("Effective from", &self.effective)?,
                "expires": day("Expires on", &self.expires)?,
            }
        }))
    }
}

/// A choice on the draft form: its value, its words, and whether it is ticked.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

fn choices(options: Vec<(String, String)>, ticked: &[String]) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice {
            checked: ticked.contains(&value),
            value,
            label,
        })
        .collect()
}

#[derive(Default)]
struct Outcome {
    form: Option<AgreementFields>,
    form_error: Option<String>,
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
    let failed = out.draft_error.is_some()
        || out.import_error.is_some()
        || out.action_error.is_some()
        || out.form_error.is_some();
    let policy = crate::routes::policy::policy_in_force(state).await?;
    let form = out
        .form
        .unwrap_or_else(|| AgreementFields::first(&policy.document));
    let hit_type_choices = choices(
        candor_store::hotlists::NCIC_CODES
            .iter()
            .map(|(code, words)| (code.to_string(), format!("{words} ({code})")))
            .collect(),
        &form.hit_types,
    );
    let field_choices = choices(
        candor_policy::SharedField::ALL
            .into_iter()
            .map(|f| {
                let code = serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                (code, f.words().to_string())
            })
            .collect(),
        &form.fields,
    );
    let category_choices = |list: &[candor_policy::PurposeCategory], ticked: &[String]| {
        choices(
            list.iter()
                .map(|c| (c.code.clone(), c.label.clone()))
                .collect(),
            ticked,
        )
    };
    let purpose_choices = category_choices(&policy.document.purpose_categories, &form.purposes);
    let excluded_choices = category_choices(
        &policy.document.forbidden_categories,
        &form.excluded_purposes,
    );
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
            form,
            form_error: out.form_error,
            hit_type_choices,
            field_choices,
            purpose_choices,
            excluded_choices,
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

/// Where a draft came from: the JSON editor or the form. A refusal is shown beside the one
/// used, with what was typed kept.
enum DraftSource {
    Json(String),
    Form(Box<AgreementFields>),
}

async fn draft(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<DocumentForm>,
) -> Result<Response, PageError> {
    let req = serde_json::from_str::<api::DraftRequest>(&form.document)
        .map_err(|e| format!("The draft is not a valid agreement request: {e}"));
    submit_draft(&state, c, DraftSource::Json(form.document), req).await
}

async fn draft_from_form(
    State(state): State<AppState>,
    c: Console,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = AgreementFields::from_pairs(&pairs);
    let req = fields
        .request()
        .and_then(|v| serde_json::from_value::<api::DraftRequest>(v).map_err(|e| e.to_string()));
    submit_draft(&state, c, DraftSource::Form(Box::new(fields)), req).await
}

/// Drafts `req` through the API's handler (its checks, its audit record); a refusal the
/// person can correct is shown beside the source it came from.
async fn submit_draft(
    state: &AppState,
    c: Console,
    source: DraftSource,
    req: Result<api::DraftRequest, String>,
) -> Result<Response, PageError> {
    let refused = |why: String, source: DraftSource| match source {
        DraftSource::Json(text) => Outcome {
            draft: Some(text),
            draft_error: Some(why),
            ..Outcome::default()
        },
        DraftSource::Form(fields) => Outcome {
            form: Some(*fields),
            form_error: Some(why),
            ..Outcome::default()
        },
    };
    let req = match req {
        Ok(r) => r,
        Err(why) => return page(state, c, refused(why, source)).await,
    };
    let out = match api::draft_agreement(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(req),
    )
    .await
    {
        Ok((_, Json(view))) => Outcome {
            message: Some(format!(
                "Agreement {} with {} drafted. Sign it below, then send the signed document to the partner.",
                view.id, view.partner_agency
            )),
            ..Outcome::default()
        },
        Err(e) if e.is_correctable() => refused(e.message, source),
        Err(e) => return Err(PageError::within(c.layout, e)),
    };
    page(state, c, out).await
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
