//! People: accounts with their role, authenticator, training certificate and its expiry,
//! access to plate data, and suspended (disabled, locked from some addresses, lapsed) state. Administrators
//! create, disable, enable and unlock accounts; program managers set roles, record training
//! and grant or revoke access. Each action is the API's handler, with its checks and audit.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_policy::Role;
use serde::Deserialize;
use serde_json::json;

use super::alerts::layout_copy;
use super::{Console, Layout, PageError, render_status, time_text};
use crate::approvals::{self, ApprovalView, Outcome};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::routes::users::{self as api, UserView};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/people", get(people_page).post(create))
        .route("/console/people/{id}/{action}", post(act))
        .route("/console/approvals/{id}/{decision}", post(decide))
}

pub struct PersonRow {
    pub user: UserView,
    pub role_label: String,
    pub training: String,
    pub training_current: bool,
    pub state: String,
    pub suspended: bool,
}

pub struct RoleOption {
    pub code: &'static str,
    pub label: &'static str,
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    layout: Layout,
    rows: Vec<PersonRow>,
    /// Requests waiting for a second person, with who asked.
    requests: Vec<(ApprovalView, String)>,
    roles: Vec<RoleOption>,
    can_manage: bool,
    can_grant: bool,
    notice: Option<String>,
    /// The account whose action was refused (0: the create form), and why.
    error: Option<(i64, String)>,
    create: CreateForm,
    today: String,
    /// The administrator's own account: their own credentials change on the Account page.
    self_id: i64,
}

impl PeoplePage {
    fn error_for(&self, id: impl std::borrow::Borrow<i64>) -> Option<&str> {
        let id = *id.borrow();
        self.error
            .as_ref()
            .filter(|(eid, _)| *eid == id)
            .map(|(_, m)| m.as_str())
    }
}

async fn page(
    state: &AppState,
    c: Console,
    notice: Option<String>,
    error: Option<(i64, String)>,
    create: CreateForm,
) -> Result<Response, PageError> {
    let Json(users) = api::list_users(State(state.clone()), c.actor.clone())
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?;
    let now = candor_store::now_ms();
    let mut rows = Vec::with_capacity(users.len());
    for user in users {
        let expiry = state
            .store
            .training_expiry(user.id)
            .await
            .map_err(ApiError::from)?;
        let (training, training_current) = match expiry {
            None => ("none on record".to_string(), false),
            Some(t) if t <= now => (format!("expired {}", time_text(t)), false),
            Some(t) => (format!("until {}", time_text(t)), true),
        };
        let state_text = if user.disabled {
            "disabled".to_string()
        } else if let Some(t) = user.locked_until {
            // Locked from some addresses only: the person signs in from any other.
            match user.locked_from.as_slice() {
                [one] => format!("locked from {} until {}", one.source, time_text(t)),
                many => format!(
                    "locked from {} addresses, the last until {}",
                    many.len(),
                    time_text(t)
                ),
            }
        } else if !user.mfa_enrolled {
            "authenticator not set up yet".to_string()
        } else {
            "active".to_string()
        };
        rows.push(PersonRow {
            role_label: user
                .role
                .parse::<Role>()
                .map(|r| r.label().to_string())
                .unwrap_or_else(|_| user.role.clone()),
            suspended: user.disabled || user.locked_until.is_some(),
            training,
            training_current,
            state: state_text,
            user,
        });
    }
    let names: std::collections::HashMap<i64, String> = rows
        .iter()
        .map(|r| (r.user.id, r.user.username.clone()))
        .collect();
    let requests = approvals::open_for(state, &c.actor)
        .await
        .map_err(|e| PageError::within(layout_copy(&c.layout), e))?
        .into_iter()
        .map(|v| {
            let who = names
                .get(&v.requested_by)
                .cloned()
                .unwrap_or_else(|| format!("user {}", v.requested_by));
            (v, who)
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render_status(
        status,
        &PeoplePage {
            self_id: c.actor.user_id,
            can_manage: c.actor.role.allows(Permission::ManageUsers),
            can_grant: c.actor.role.allows(Permission::GrantAccess),
            layout: c.layout,
            rows,
            requests,
            roles: Role::ALL
                .iter()
                .map(|r| RoleOption {
                    code: r.code(),
                    label: r.label(),
                })
                .collect(),
            notice,
            error,
            create,
            today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        },
    ))
}

async fn people_page(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    page(&state, c, None, None, CreateForm::default()).await
}

async fn create(
    State(state): State<AppState>,
    c: Console,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    let body = json!({"username": form.username, "display_name": form.display_name,
        "role": form.role, "password": form.password});
    match api::create_user(State(state.clone()), c.actor.clone(), Json(body)).await {
        Ok(outcome) => {
            let notice = match outcome {
                Outcome::Applied((_, Json(user))) => format!(
                    "Account {} created. Give the person the password in person; they set up their authenticator at first sign-in.",
                    user.username
                ),
                Outcome::Pending(view) => pending_notice(&view),
            };
            page(&state, c, Some(notice), None, CreateForm::default()).await
        }
        Err(e) if e.is_correctable() => {
            let create = CreateForm {
                password: String::new(),
                ..form
            };
            page(&state, c, None, Some((0, e.message)), create).await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

#[derive(Deserialize, Default)]
struct ActionForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    course: String,
    #[serde(default)]
    completed_on: String,
    /// A password an administrator sets, which the person replaces at next sign-in.
    #[serde(default)]
    password: String,
}

async fn act(
    State(state): State<AppState>,
    c: Console,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let s = || State(state.clone());
    let a = c.actor.clone();
    let result: Result<String, ApiError> = match action.as_str() {
        "role" => api::update_user(s(), a, Path(id), Json(json!({"role": form.role})))
            .await
            .map(|o| or_pending(o, "Role changed; the person's sessions ended.")),
        "disable" => api::update_user(s(), a, Path(id), Json(json!({"disabled": true})))
            .await
            .map(|_| "Account disabled; its sessions ended.".into()),
        "enable" => api::update_user(s(), a, Path(id), Json(json!({"disabled": false})))
            .await
            .map(|_| "Account enabled.".into()),
        "unlock" => api::unlock_user(s(), a, Path(id))
            .await
            .map(|_| "Lockout lifted.".into()),
        "reactivate" => api::reactivate_user(s(), a, Path(id))
            .await
            .map(|_| "Account reactivated.".into()),
        "password" => api::reset_password(s(), a, Path(id), Json(json!({"password": form.password})))
            .await
            .map(|o| {
                or_pending(
                    o,
                    "Password set; the person's sessions ended. Give it to them in person: they choose their own at next sign-in.",
                )
            }),
        "mfa-reset" => api::reset_mfa(s(), a, Path(id)).await.map(|o| {
            or_pending(
                o,
                "Authenticator reset; the person's sessions ended. They enrol a new one at next sign-in.",
            )
        }),
        "training" => api::record_training(
            s(),
            a,
            Path(id),
            Json(json!({"course": form.course, "completed_on": form.completed_on})),
        )
        .await
        .map(|_| "Training recorded.".into()),
        "grant" => api::grant_access(s(), a, Path(id))
            .await
            .map(|o| or_pending(o, "Access to plate data granted.")),
        "revoke" => api::revoke_access(s(), a, Path(id))
            .await
            .map(|_| "Access to plate data revoked.".into()),
        other => Err(ApiError::not_found(format!(
            "no action {other:?} on accounts"
        ))),
    };
    match result {
        Ok(notice) => page(&state, c, Some(notice), None, CreateForm::default()).await,
        Err(e) if e.is_correctable() => {
            page(
                &state,
                c,
                None,
                Some((id, e.message)),
                CreateForm::default(),
            )
            .await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}

fn pending_notice(view: &ApprovalView) -> String {
    format!(
        "Asked: {}. It takes effect when {} other than you approves it (request {}).",
        view.summary, view.approver, view.id
    )
}

fn or_pending<T>(outcome: Outcome<T>, done: &str) -> String {
    match outcome {
        Outcome::Applied(_) => done.to_string(),
        Outcome::Pending(view) => pending_notice(&view),
    }
}

/// Approves or rejects a request waiting for a second person.
async fn decide(
    State(state): State<AppState>,
    c: Console,
    Path((id, decision)): Path<(i64, String)>,
) -> Result<Response, PageError> {
    let result = match decision.as_str() {
        "approve" => approvals::approve(&state, &c.actor, id)
            .await
            .map(|v| format!("Approved: {}.", v.summary)),
        "reject" => approvals::reject(&state, &c.actor, id)
            .await
            .map(|v| format!("Rejected: {}.", v.summary)),
        other => Err(ApiError::not_found(format!(
            "no decision {other:?} on requests"
        ))),
    };
    match result {
        Ok(notice) => page(&state, c, Some(notice), None, CreateForm::default()).await,
        Err(e) if e.is_correctable() || e.status == StatusCode::FORBIDDEN => {
            page(
                &state,
                c,
                None,
                Some((-id, e.message)),
                CreateForm::default(),
            )
            .await
        }
        Err(e) => Err(PageError::within(c.layout, e)),
    }
}
