//! Hot lists: the lists with their counts and last import, import with the line-by-line
//! validation report, user hot-plate entry, and the supervisor's approval queue. Every
//! change goes through the API's functions (same checks, same audit records).

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::hotlists::{HotList, ImportReport, NewUserPlate, UserPlate, UserPlateStatus};
use serde::Deserialize;

use super::alerts::layout_copy;
use super::{Console, Layout, PageError, render_status, time_text};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::hotlists::{self as api, Decision, ImportParams, PlateFilter};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/hotlists", get(hotlists_page))
        .route(
            "/console/hotlists/import",
            // The form carries the file's text, percent-encoded: up to three bytes a byte.
            post(import).layer(axum::extract::DefaultBodyLimit::max(
                3 * api::MAX_IMPORT_BYTES,
            )),
        )
        .route("/console/hotplates", post(enter_plate))
        .route("/console/hotplates/{id}/decision", post(decide))
}

/// The import form as filled in.
#[derive(Deserialize, Default, Clone)]
pub struct ImportForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub hit_type: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub contents: String,
}

/// The user hot-plate form as filled in.
#[derive(Deserialize, Default, Clone)]
pub struct PlateForm {
    #[serde(default)]
    pub plate: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub case_number: String,
    #[serde(default)]
    pub expires: String,
}

#[derive(Default)]
pub struct PlateErrors {
    pub plate: Option<String>,
    pub reason: Option<String>,
    pub case_number: Option<String>,
    pub expires: Option<String>,
    pub general: Option<String>,
}

/// What the last action on this page did.
pub enum Outcome {
    None,
    Imported {
        list: String,
        report: ImportReport,
    },
    ImportRefused {
        message: String,
        report: ImportReport,
    },
    PlateEntered(i64),
}

pub struct PlateRow {
    pub plate: UserPlate,
    pub expires: String,
    pub entered: String,
    pub decided: String,
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "console/hotlists.html")]
struct HotListsPage {
    layout: Layout,
    lists: Option<Vec<(HotList, String)>>,
    import: ImportForm,
    import_error: Option<String>,
    outcome: Outcome,
    can_enter: bool,
    plate_form: PlateForm,
    plate_errors: PlateErrors,
    max_days: i64,
    /// The largest file the import form takes, MiB.
    max_import_mib: usize,
    pending: Vec<PlateRow>,
    can_approve: bool,
    plates: Vec<PlateRow>,
    sources: Vec<SelectOption>,
    formats: Vec<SelectOption>,
}

pub struct SelectOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn options(choices: &[(&'static str, &'static str)], chosen: &str) -> Vec<SelectOption> {
    choices
        .iter()
        .map(|(value, label)| SelectOption {
            value,
            label,
            selected: *value == chosen,
        })
        .collect()
}

const SOURCES: &[(&str, &str)] = &[
    ("ncic", "NCIC"),
    ("state", "State list"),
    ("amber", "AMBER alert"),
    ("user", "Agency list"),
];

const FORMATS: &[(&str, &str)] = &[
    ("csv", "CSV (header line, then plate,state,reason,…)"),
    ("ncic", "NCIC extract (fixed width)"),
];

struct PageParts {
    import: ImportForm,
    import_error: Option<String>,
    outcome: Outcome,
    plate_form: PlateForm,
    plate_errors: PlateErrors,
    status: axum::http::StatusCode,
}

impl Default for PageParts {
    fn default() -> Self {
        PageParts {
            import: ImportForm {
                source: "state".into(),
                format: "csv".into(),
                priority: "5".into(),
                ..ImportForm::default()
            },
            import_error: None,
            outcome: Outcome::None,
            plate_form: PlateForm::default(),
            plate_errors: PlateErrors::default(),
            status: axum::http::StatusCode::OK,
        }
    }
}

fn plate_row(p: UserPlate, me: i64) -> PlateRow {
    PlateRow {
        expires: time_text(p.expires_at),
        entered: format!("{} by {}", time_text(p.entered_at), p.entered_by_name),
        decided: match (&p.decided_by_name, p.decided_at) {
            (Some(n), Some(t)) => format!("{} by {n}", time_text(t)),
            _ => String::new(),
        },
        mine: p.entered_by == me,
        plate: p,
    }
}

async fn page(state: &AppState, c: Console, parts: PageParts) -> Result<Response, PageError> {
    let role = c.actor.role;
    c.actor
        .require_any(&[
            Permission::ManageHotLists,
            Permission::EnterUserHotPlates,
            Permission::ApproveUserHotPlates,
        ])
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let lists = if role.allows(Permission::ManageHotLists) {
        let Json(lists) = api::list_lists(State(state.clone()), c.actor.clone())
            .await
            .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
        Some(
            lists
                .into_iter()
                .map(|l| {
                    let t = time_text(l.updated_at);
                    (l, t)
                })
                .collect(),
        )
    } else {
        None
    };
    let can_enter = role.allows(Permission::EnterUserHotPlates);
    let can_approve = role.allows(Permission::ApproveUserHotPlates);
    // Program managers manage the lists; user hot plates are for those who enter or approve them.
    let all = if can_enter || can_approve {
        let Json(all) = api::list_user_plates(
            State(state.clone()),
            c.actor.clone(),
            axum::extract::Query(PlateFilter { status: None }),
        )
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
        all
    } else {
        Vec::new()
    };
    let me = c.actor.user_id;
    let (pending, plates): (Vec<_>, Vec<_>) = all
        .into_iter()
        .map(|p| plate_row(p, me))
        .partition(|r| r.plate.status == UserPlateStatus::Pending && !r.plate.expired);
    let page = HotListsPage {
        sources: options(SOURCES, &parts.import.source),
        formats: options(FORMATS, &parts.import.format),
        layout: c.layout,
        lists,
        import: parts.import,
        import_error: parts.import_error,
        outcome: parts.outcome,
        can_enter,
        plate_form: parts.plate_form,
        plate_errors: parts.plate_errors,
        max_days: state.config.hot_plates.max_days,
        max_import_mib: api::MAX_IMPORT_BYTES / (1024 * 1024),
        pending,
        can_approve,
        plates,
    };
    Ok(render_status(parts.status, &page))
}

async fn hotlists_page(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    page(&state, c, PageParts::default()).await
}

async fn import(
    State(state): State<AppState>,
    c: Console,
    form: Result<Form<ImportForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    c.require(Permission::ManageHotLists)?;
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => {
            let too_large = e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
            let parts = PageParts {
                import_error: Some(if too_large {
                    format!(
                        "The file is larger than the console takes ({} MiB). Import it with `candor import` on the server, which takes files of any size.",
                        api::MAX_IMPORT_BYTES / (1024 * 1024)
                    )
                } else {
                    format!("The form could not be read: {}", e.body_text())
                }),
                status: e.status(),
                ..PageParts::default()
            };
            return page(&state, c, parts).await;
        }
    };
    let mut parts = PageParts {
        import: form.clone(),
        ..PageParts::default()
    };
    let priority = if form.priority.trim().is_empty() {
        None
    } else {
        match form.priority.trim().parse::<i64>() {
            Ok(p) => Some(p),
            Err(_) => {
                parts.import_error = Some("The priority is a number from 1 (highest) to 9.".into());
                parts.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                return page(&state, c, parts).await;
            }
        }
    };
    let params = ImportParams {
        name: form.name.trim().to_string(),
        source: form.source.clone(),
        format: form.format.clone(),
        hit_type: Some(form.hit_type.trim().to_string()).filter(|s| !s.is_empty()),
        priority,
        hit_retention_secs: None,
    };
    if params.name.is_empty() || form.contents.trim().is_empty() {
        parts.import_error =
            Some("Give the list a name and choose (or paste) the file to import.".into());
        parts.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return page(&state, c, parts).await;
    }
    match api::import_text(&state, &c.actor, &params, &form.contents).await {
        Ok((Some(list), report)) => {
            parts.outcome = Outcome::Imported {
                list: list.name,
                report,
            };
            parts.import = PageParts::default().import;
        }
        Ok((None, report)) => {
            parts.outcome = Outcome::ImportRefused {
                message: format!(
                    "{} line(s) are invalid, so nothing was imported and the current list is unchanged. Fix them and import again.",
                    report.error_count
                ),
                report,
            };
            parts.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        }
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            parts.import_error = Some(e.message);
            parts.status = e.status;
        }
        Err(e) => return Err(PageError::within(c.layout, e)),
    }
    page(&state, c, parts).await
}

/// The end of the chosen day (UTC), as Unix ms.
fn end_of_day(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(23, 59, 0)?.and_utc().timestamp_millis())
}

async fn enter_plate(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<PlateForm>,
) -> Result<Response, PageError> {
    c.require(Permission::EnterUserHotPlates)?;
    let mut errors = PlateErrors::default();
    if form.plate.trim().is_empty() {
        errors.plate = Some("Give the plate.".into());
    }
    if form.reason.trim().is_empty() {
        errors.reason = Some("Say why this plate is of interest.".into());
    }
    if form.case_number.trim().is_empty() {
        errors.case_number = Some("Give the case number.".into());
    }
    let expires = end_of_day(&form.expires);
    if expires.is_none() {
        errors.expires = Some("Choose the day this entry expires.".into());
    }
    let refuse = |errors: PlateErrors, form: PlateForm| PageParts {
        plate_form: form,
        plate_errors: errors,
        status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        ..PageParts::default()
    };
    let (Some(expires_at), None, None, None) =
        (expires, &errors.plate, &errors.reason, &errors.case_number)
    else {
        return page(&state, c, refuse(errors, form)).await;
    };
    let new = NewUserPlate {
        plate: form.plate.trim().to_string(),
        state: Some(form.state.trim().to_string()).filter(|s| !s.is_empty()),
        reason: form.reason.trim().to_string(),
        case_number: form.case_number.trim().to_string(),
        expires_at,
        hit_type: None,
        priority: None,
    };
    match api::create_user_plate(
        State(state.clone()),
        c.actor.clone(),
        ApiJson::from_value(new),
    )
    .await
    {
        Ok((_, Json(plate))) => {
            let parts = PageParts {
                outcome: Outcome::PlateEntered(plate.id),
                ..PageParts::default()
            };
            page(&state, c, parts).await
        }
        Err(e) if e.status == axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
            let mut errors = PlateErrors::default();
            let m = e.message.to_lowercase();
            if m.contains("expir") {
                errors.expires = Some(e.message);
            } else if m.contains("case") {
                errors.case_number = Some(e.message);
            } else if m.contains("plate") {
                errors.plate = Some(e.message);
            } else {
                errors.general = Some(e.message);
            }
            page(&state, c, refuse(errors, form)).await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: String,
    #[serde(default)]
    note: String,
}

async fn decide(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let note = Some(form.note.trim().to_string()).filter(|n| !n.is_empty());
    let body = ApiJson::from_value(Decision { note });
    let result = match form.decision.as_str() {
        "approve" => {
            api::approve_user_plate(State(state.clone()), c.actor.clone(), Path(id), body).await
        }
        "reject" => {
            api::reject_user_plate(State(state.clone()), c.actor.clone(), Path(id), body).await
        }
        _ => Err(ApiError::unprocessable(
            "invalid_decision",
            "choose approve or reject",
        )),
    };
    let _decided = result.map_err(|e| PageError::within(c.layout, e))?;
    Ok(Redirect::to("/console/hotlists#approvals").into_response())
}
