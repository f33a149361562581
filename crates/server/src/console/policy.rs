//! Policy: the document in force (retention per class, purposes, limits, look-alike budget)
//! edited with a form (each rule a field, durations in words, lists one item per line), or
//! as JSON for what the form does not show; published as a new version with a change note;
//! and every earlier version. Publishing is the API's function: same validation, same audit
//! record. The form starts from the version in force, so what it does not show is kept.

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
use crate::error::ApiError;
use crate::routes::policy::{self as api, policy_in_force};
use crate::state::AppState;
use candor_policy::{Jurisdiction, PolicyDocument};

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
    form: RuleFields,
    /// Each refused field and why, keyed by the field's name.
    field_errors: Vec<(&'static str, String)>,
    jurisdictions: Vec<(String, &'static str)>,
    document: String,
    /// The last submission was the JSON editor's.
    form_mode_json: bool,
    note: String,
    error: Option<String>,
    note_error: Option<String>,
    published: Option<i64>,
    versions: Vec<VersionRow>,
}

impl PolicyPage {
    /// The JSON editor is open when it was used (so its refusal is seen beside it).
    fn document_open(&self) -> bool {
        self.form_mode_json
    }

    fn field_error(&self, name: &str) -> Option<&str> {
        self.field_errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e.as_str())
    }
}

#[derive(Default)]
struct Draft {
    form: Option<RuleFields>,
    field_errors: Vec<(&'static str, String)>,
    document: Option<String>,
    note: String,
    error: Option<String>,
    note_error: Option<String>,
    published: Option<i64>,
}

/// The rules the form shows, as typed: durations in words ("21 days"), lists one item per
/// line (purposes as `code: label`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct RuleFields {
    statement_of_purpose: String,
    purposes: String,
    forbidden_purposes: String,
    forbidden_words: String,
    case_number_format: String,
    case_number_example: String,
    max_search_range: String,
    results_cap: String,
    partial_allowed: Option<String>,
    partial_max_range: String,
    alert_horizon: String,
    non_hit_reads: String,
    hits: String,
    images: String,
    audit_records: String,
    jurisdiction: String,
    lookalike_budget: String,
    user_hot_plate_max_expiry: String,
    idle_account_limit: String,
    training_validity: String,
    review_sample_percent: String,
}

fn categories_text(categories: &[candor_policy::PurposeCategory]) -> String {
    categories
        .iter()
        .map(|c| format!("{}: {}", c.code, c.label))
        .collect::<Vec<_>>()
        .join("\n")
}

impl RuleFields {
    fn from_document(d: &PolicyDocument) -> Self {
        RuleFields {
            statement_of_purpose: d.statement_of_purpose.clone(),
            purposes: categories_text(&d.purpose_categories),
            forbidden_purposes: categories_text(&d.forbidden_categories),
            forbidden_words: d.forbidden_words.join("\n"),
            case_number_format: d.case_number_format.clone(),
            case_number_example: d.case_number_example.clone(),
            max_search_range: duration_words(d.max_search_range),
            results_cap: d.results_cap.to_string(),
            partial_allowed: d.partial_plate_search.allowed.then(|| "yes".into()),
            partial_max_range: duration_words(d.partial_plate_search.max_range),
            alert_horizon: duration_words(d.alert_horizon),
            non_hit_reads: duration_words(d.retention.non_hit_reads),
            hits: duration_words(d.retention.hits),
            images: duration_words(d.retention.images),
            audit_records: duration_words(d.retention.audit_records),
            jurisdiction: d.jurisdiction.map(jurisdiction_code).unwrap_or_default(),
            lookalike_budget: d.lookalike_budget.to_string(),
            user_hot_plate_max_expiry: duration_words(d.user_hot_plate_max_expiry),
            idle_account_limit: duration_words(d.idle_account_limit),
            training_validity: duration_words(d.training_validity),
            review_sample_percent: format!("{}", d.review.sample_rate * 100.0),
        }
    }

    /// `base` with these fields written over it, or every field that does not parse, each
    /// with what to write instead. The document's own checks (state law, limits) come after,
    /// when it is published.
    fn apply(&self, base: &PolicyDocument) -> Result<PolicyDocument, Vec<(&'static str, String)>> {
        let mut d = base.clone();
        let mut errors = Vec::new();
        let mut duration = |name: &'static str, text: &str, into: &mut std::time::Duration| {
            match candor_policy::duration_from_words(text) {
                Some(v) => *into = v,
                None => errors.push((
                    name,
                    format!("{:?} is not a length of time; write it like \"21 days\", \"1 year\" or \"3 minutes\"", text.trim()),
                )),
            }
        };
        duration(
            "max_search_range",
            &self.max_search_range,
            &mut d.max_search_range,
        );
        duration(
            "partial_max_range",
            &self.partial_max_range,
            &mut d.partial_plate_search.max_range,
        );
        duration("alert_horizon", &self.alert_horizon, &mut d.alert_horizon);
        duration(
            "non_hit_reads",
            &self.non_hit_reads,
            &mut d.retention.non_hit_reads,
        );
        duration("hits", &self.hits, &mut d.retention.hits);
        duration("images", &self.images, &mut d.retention.images);
        duration(
            "audit_records",
            &self.audit_records,
            &mut d.retention.audit_records,
        );
        duration(
            "user_hot_plate_max_expiry",
            &self.user_hot_plate_max_expiry,
            &mut d.user_hot_plate_max_expiry,
        );
        duration(
            "idle_account_limit",
            &self.idle_account_limit,
            &mut d.idle_account_limit,
        );
        duration(
            "training_validity",
            &self.training_validity,
            &mut d.training_validity,
        );

        d.statement_of_purpose = self.statement_of_purpose.trim().to_string();
        for (name, text, into) in [
            ("purposes", &self.purposes, &mut d.purpose_categories),
            (
                "forbidden_purposes",
                &self.forbidden_purposes,
                &mut d.forbidden_categories,
            ),
        ] {
            match parse_categories(text) {
                Ok(list) => *into = list,
                Err(e) => errors.push((name, e)),
            }
        }
        d.forbidden_words = lines(&self.forbidden_words).map(str::to_string).collect();
        d.case_number_format = self.case_number_format.trim().to_string();
        d.case_number_example = self.case_number_example.trim().to_string();
        d.partial_plate_search.allowed = self.partial_allowed.is_some();
        match self.results_cap.trim().parse::<u32>() {
            Ok(v) => d.results_cap = v,
            Err(_) => errors.push((
                "results_cap",
                "give a whole number of results, e.g. 100".into(),
            )),
        }
        match self.lookalike_budget.trim().parse::<u8>() {
            Ok(v) => d.lookalike_budget = v,
            Err(_) => errors.push(("lookalike_budget", "choose 0, 1 or 2".into())),
        }
        match self
            .review_sample_percent
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
        {
            Ok(p) if (0.0..=100.0).contains(&p) => d.review.sample_rate = p / 100.0,
            _ => errors.push((
                "review_sample_percent",
                "give a percentage from 0 to 100, e.g. 5".into(),
            )),
        }
        d.jurisdiction = match self.jurisdiction.trim() {
            "" => None,
            code => match Jurisdiction::ALL
                .into_iter()
                .find(|j| jurisdiction_code(*j) == code)
            {
                Some(j) => Some(j),
                None => {
                    errors.push((
                        "jurisdiction",
                        format!("{code:?} is not a state this policy knows"),
                    ));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(errors)
        }
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Purpose categories, one per line as `code: label`.
fn parse_categories(text: &str) -> Result<Vec<candor_policy::PurposeCategory>, String> {
    lines(text)
        .map(|line| match line.split_once(':') {
            Some((code, label)) if !code.trim().is_empty() && !label.trim().is_empty() => {
                Ok(candor_policy::PurposeCategory {
                    code: code.trim().to_string(),
                    label: label.trim().to_string(),
                })
            }
            _ => Err(format!(
                "{line:?}: write each purpose on its own line as code: label, e.g. \"stolen-vehicle: Stolen vehicle\""
            )),
        })
        .collect()
}

/// The code a jurisdiction has in the policy document (`new-hampshire`, ...).
fn jurisdiction_code(j: Jurisdiction) -> String {
    serde_json::to_value(j)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
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
    let status =
        if draft.error.is_some() || draft.note_error.is_some() || !draft.field_errors.is_empty() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
    let form_mode_json = draft.document.is_some();
    let document = draft
        .document
        .unwrap_or_else(|| serde_json::to_string_pretty(d).unwrap_or_default());
    Ok(render_status(
        status,
        &PolicyPage {
            layout: c.layout,
            version: policy.version,
            summary,
            form: draft.form.unwrap_or_else(|| RuleFields::from_document(d)),
            field_errors: draft.field_errors,
            form_mode_json,
            jurisdictions: Jurisdiction::ALL
                .into_iter()
                .map(|j| (jurisdiction_code(j), j.name()))
                .collect(),
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
    page(&state, c, Draft::default()).await
}

#[derive(Deserialize)]
struct PublishForm {
    /// `form` (the rules' fields) or `json` (the whole document as JSON).
    #[serde(default)]
    mode: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    note: String,
    #[serde(flatten)]
    rules: RuleFields,
}

async fn publish(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<PublishForm>,
) -> Result<Response, PageError> {
    let from_json = form.mode == "json";
    let mut draft = Draft {
        form: (!from_json).then(|| form.rules.clone()),
        document: from_json.then(|| form.document.clone()),
        note: form.note.clone(),
        ..Draft::default()
    };
    if form.note.trim().is_empty() {
        draft.note_error =
            Some("Say what changed and why: the note is kept with the version.".into());
        return page(&state, c, draft).await;
    }
    let body: serde_json::Value = if from_json {
        match serde_json::from_str(&form.document) {
            Ok(v) => v,
            Err(e) => {
                draft.error = Some(format!("The document is not valid JSON: {e}"));
                return page(&state, c, draft).await;
            }
        }
    } else {
        let in_force = policy_in_force(&state).await?;
        match form.rules.apply(&in_force.document) {
            Ok(doc) => serde_json::to_value(&doc).map_err(|e| ApiError::internal(e.to_string()))?,
            Err(errors) => {
                draft.field_errors = errors;
                return page(&state, c, draft).await;
            }
        }
    };
    match api::publish(&state, &c.actor, body, Some(form.note.trim())).await {
        Ok(view) => {
            let draft = Draft {
                published: Some(view.version),
                ..Draft::default()
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
