//! Account administration: create accounts, change role, disable, unlock, reset a lost
//! authenticator, reset a password. Every change is audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use crate::approvals::{self, Change, Outcome};
use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use candor_store::lockouts::SourceLock;
use candor_store::users::{NewUser, User};

#[derive(OpenApi)]
#[openapi(
    paths(
        list_users,
        create_user,
        update_user,
        unlock_user,
        reset_mfa,
        reset_password,
        reactivate_user,
        list_training,
        record_training,
        grant_access,
        revoke_access
    ),
    components(schemas(
        UserView,
        SourceLockView,
        CreateUser,
        UpdateUser,
        ResetPassword,
        TrainingView,
        RecordTraining
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", axum::routing::patch(update_user))
        .route("/api/v1/users/{id}/unlock", post(unlock_user))
        .route("/api/v1/users/{id}/mfa-reset", post(reset_mfa))
        .route("/api/v1/users/{id}/password", post(reset_password))
        .route("/api/v1/users/{id}/reactivate", post(reactivate_user))
        .route(
            "/api/v1/users/{id}/training",
            get(list_training).post(record_training),
        )
        .route(
            "/api/v1/users/{id}/access",
            post(grant_access).delete(revoke_access),
        )
}

/// An account as administrators see it (never the password hash or TOTP secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub mfa_enrolled: bool,
    pub disabled: bool,
    /// Sign-in refused from some address until this time (Unix ms): the latest end of
    /// `locked_from`; none while no lock is in force.
    pub locked_until: Option<i64>,
    /// The addresses the account refuses sign-ins from, after failures in a row from each
    /// (see `auth::throttle`), the latest-ending first; an unlock lifts them all.
    pub locked_from: Vec<SourceLockView>,
    pub last_active_at: Option<i64>,
    /// When a program manager granted access to plate data (none: not granted).
    pub access_granted_at: Option<i64>,
    pub created_at: i64,
}

/// A lock in force on an account: sign-ins from `source` are refused until `until`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SourceLockView {
    /// An IPv4 address, or an IPv6 address's /64.
    pub source: String,
    /// Unix ms.
    pub until: i64,
}

impl UserView {
    /// `u` as shown, with its locks in force (`locks`: this account's, latest-ending first).
    pub fn new(u: &User, locks: &[&SourceLock]) -> Self {
        let locked_from: Vec<SourceLockView> = locks
            .iter()
            .filter(|l| l.user_id == u.id)
            .map(|l| SourceLockView {
                source: l.source.clone(),
                until: l.locked_until,
            })
            .collect();
        UserView {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role.clone(),
            mfa_enrolled: u.totp_enabled,
            disabled: u.disabled,
            locked_until: locked_from.iter().map(|l| l.until).max(),
            locked_from,
            last_active_at: u.last_active_at,
            access_granted_at: u.access_granted_at,
            created_at: u.created_at,
        }
    }
}

/// `u` as shown, with the locks in force on it now.
async fn view(state: &AppState, u: &User) -> Result<UserView, ApiError> {
    let locks = state
        .store
        .sign_in_locks(Some(u.id), candor_store::now_ms())
        .await?;
    Ok(UserView::new(u, &locks.iter().collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    /// administrator, program_manager, supervisor, investigator, officer or auditor.
    pub role: String,
    /// Initial password (at least 12 characters); the person sets up TOTP at first sign-in.
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetPassword {
    pub password: String,
}

async fn load(state: &AppState, id: i64) -> Result<User, ApiError> {
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

fn target(id: i64) -> String {
    format!("user:{id}")
}

/// Lists accounts (administrators; program managers, who grant access).
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<UserView>>, ApiError> {
    if actor.require(Permission::ManageUsers).is_err() {
        actor.require(Permission::GrantAccess)?;
    }
    let users = state.store.list_users().await?;
    let locks = state
        .store
        .sign_in_locks(None, candor_store::now_ms())
        .await?;
    let mut by_user: std::collections::HashMap<i64, Vec<&SourceLock>> = Default::default();
    for l in &locks {
        by_user.entry(l.user_id).or_default().push(l);
    }
    Ok(Json(
        users
            .iter()
            .map(|u| UserView::new(u, by_user.get(&u.id).map_or(&[][..], Vec::as_slice)))
            .collect(),
    ))
}

/// Creates an account (administrators). A program manager's account needs a program
/// manager's approval (202 with the request), unless there is none yet. Audited.
#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUser, responses(
    (status = 201, body = UserView), (status = 202, body = approvals::ApprovalView),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<serde_json::Value>,
) -> Result<Outcome<(StatusCode, Json<UserView>)>, ApiError> {
    actor.require(Permission::ManageUsers)?;
    let req: CreateUser = auth::parse_body(body)?;
    let role = auth::parse_role(&req.role)?;
    let username = req.username.trim().to_string();
    candor_store::users::check_username(&username)?;
    let password_hash = auth::hash_new_password(&username, &req.password).await?;
    let display_name = req.display_name.trim().to_string();
    let mut first_program_manager = false;
    if role.allows(Permission::GrantAccess) {
        if state
            .store
            .active_users_with_role(&auth::role_name(role))
            .await?
            > 0
        {
            if state.store.user_by_username(&username).await?.is_some() {
                return Err(ApiError::conflict(
                    "username_taken",
                    format!("the username {username:?} is taken"),
                ));
            }
            let summary = format!("create {username} as {}", auth::role_name(role));
            let change = Change::CreateUser {
                username,
                display_name,
                role: auth::role_name(role),
                password_hash,
            };
            let view = approvals::file(&state, &actor, None, change, summary).await?;
            return Ok(Outcome::Pending(view));
        }
        // The first program manager: nobody can approve yet; the audit record says so.
        first_program_manager = true;
    }
    let user = state
        .store
        .create_user(
            &NewUser {
                username,
                display_name,
                role: auth::role_name(role),
                password_hash,
                created_by: Some(actor.user_id),
            },
            candor_store::now_ms(),
        )
        .await?;
    // The person replaces the password an administrator chose at first sign-in.
    state.store.require_password_change(user.id).await?;
    auth::record_action(
        &state,
        &actor,
        "user.create",
        &target(user.id),
        json!({"username": user.username, "role": user.role,
               "first_program_manager": first_program_manager}),
    )
    .await?;
    Ok(Outcome::Applied((
        StatusCode::CREATED,
        Json(UserView::new(&user, &[])),
    )))
}

/// Changes an account's display name or disabled flag (administrators) or role (program
/// managers, who grant access: a role with plate data needs a current training
/// certificate). A role that exposes plate data or grants access needs an administrator's
/// approval: the answer is then 202 with the request, and the role changes on approval. A
/// role change or disabling ends the account's sessions. Audited.
#[utoipa::path(patch, path = "/api/v1/users/{id}", params(("id" = i64, Path, description = "The user's id")), request_body = UpdateUser, responses(
    (status = 200, body = UserView), (status = 202, body = approvals::ApprovalView),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<serde_json::Value>,
) -> Result<Outcome<Json<UserView>>, ApiError> {
    let req: UpdateUser = auth::parse_body(body)?;
    if req.role.is_some() {
        actor.require(Permission::GrantAccess)?;
    }
    if req.display_name.is_some() || req.disabled.is_some() || req.role.is_none() {
        actor.require(Permission::ManageUsers)?;
    }
    let before = load(&state, id).await?;
    if id == actor.user_id && (req.role.is_some() || req.disabled == Some(true)) {
        return Err(ApiError::unprocessable(
            "own_account",
            "you cannot change your own role or disable yourself; ask another administrator",
        ));
    }
    let now = candor_store::now_ms();
    let mut changes = serde_json::Map::new();
    let mut pending = None;
    if let Some(name) = req
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| *n != before.display_name)
    {
        state.store.set_display_name(id, name).await?;
        changes.insert("display_name".into(), json!(name));
    }
    if let Some(role) = &req.role {
        let parsed = auth::parse_role(role)?;
        let role = auth::role_name(parsed);
        if role != before.role && candor_policy::role_needs_second_person(parsed) {
            if parsed.permissions().iter().any(|p| p.exposes_plate_data()) {
                approvals::require_current_training(&state, id, now).await?;
            }
            let summary = format!("role of {} from {} to {role}", before.username, before.role);
            let change = Change::SetRole { role };
            pending = Some(approvals::file(&state, &actor, Some(id), change, summary).await?);
        } else if role != before.role {
            state.store.set_user_role(id, &role).await?;
            state
                .store
                .end_user_sessions(id, now, "role changed")
                .await?;
            changes.insert("role".into(), json!({"from": before.role, "to": role}));
        }
    }
    if let Some(disabled) = req.disabled.filter(|d| *d != before.disabled) {
        state.store.set_user_disabled(id, disabled).await?;
        if disabled {
            state
                .store
                .end_user_sessions(id, now, "account disabled")
                .await?;
        }
        changes.insert("disabled".into(), json!(disabled));
    }
    if !changes.is_empty() {
        auth::record_action(
            &state,
            &actor,
            "user.update",
            &target(id),
            serde_json::Value::Object(changes),
        )
        .await?;
    }
    if let Some(view) = pending {
        return Ok(Outcome::Pending(view));
    }
    Ok(Outcome::Applied(Json(
        view(&state, &load(&state, id).await?).await?,
    )))
}

/// Lifts every lock of an account, from whatever address (administrators). Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", params(("id" = i64, Path, description = "The user's id")), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unlock_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    actor.require(Permission::ManageUsers)?;
    let lifted = state.store.unlock_user(id, candor_store::now_ms()).await?;
    // The sign-in throttle's count for the name goes too: unlocked means able to sign in.
    if let Some(user) = state.store.user_by_id(id).await? {
        state.sign_in_throttle.clear_username(&user.username);
    }
    auth::record_action(
        &state,
        &actor,
        "user.unlock",
        &target(id),
        json!({"locks_lifted": lifted}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resets a lost authenticator (administrators): TOTP off, recovery codes deleted, sessions
/// ended; the person enrols again at next sign-in. For someone who holds access to plate
/// data or grants it, a program manager must approve (202 with the request). Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/mfa-reset", params(("id" = i64, Path, description = "The user's id")), responses((status = 204),
    (status = 202, body = approvals::ApprovalView), (status = 404, body = ErrorBody)))]
pub async fn reset_mfa(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Outcome<StatusCode>, ApiError> {
    actor.require(Permission::ManageUsers)?;
    let user = load(&state, id).await?;
    if guarded(&user) {
        let summary = format!("reset the authenticator of {}", user.username);
        let view = approvals::file(&state, &actor, Some(id), Change::ResetMfa, summary).await?;
        return Ok(Outcome::Pending(view));
    }
    state.store.reset_totp(id).await?;
    state
        .store
        .end_user_sessions(id, candor_store::now_ms(), "authenticator reset")
        .await?;
    auth::record_action(&state, &actor, "user.mfa_reset", &target(id), json!({})).await?;
    Ok(Outcome::Applied(StatusCode::NO_CONTENT))
}

/// Sets a new password for an account (administrators); its sessions end. For someone who
/// holds access to plate data or grants it, a program manager must approve (202 with the
/// request). Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", params(("id" = i64, Path, description = "The user's id")), request_body = ResetPassword, responses(
    (status = 204), (status = 202, body = approvals::ApprovalView),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<serde_json::Value>,
) -> Result<Outcome<StatusCode>, ApiError> {
    actor.require(Permission::ManageUsers)?;
    let req: ResetPassword = auth::parse_body(body)?;
    let user = load(&state, id).await?;
    let hash = auth::hash_new_password(&user.username, &req.password).await?;
    if guarded(&user) {
        let summary = format!("set a new password for {}", user.username);
        let change = Change::SetPassword {
            password_hash: hash,
        };
        let view = approvals::file(&state, &actor, Some(id), change, summary).await?;
        return Ok(Outcome::Pending(view));
    }
    state.store.set_admin_password_hash(id, &hash).await?;
    state
        .store
        .end_user_sessions(id, candor_store::now_ms(), "password reset")
        .await?;
    auth::record_action(
        &state,
        &actor,
        "user.password_reset",
        &target(id),
        json!({}),
    )
    .await?;
    Ok(Outcome::Applied(StatusCode::NO_CONTENT))
}

/// Whether resetting this account's credentials needs a second person.
fn guarded(user: &User) -> bool {
    user.role.parse::<candor_policy::Role>().is_ok_and(|r| {
        candor_policy::credentials_need_second_person(r, user.access_granted_at.is_some())
    })
}

/// Reactivates an account that lapsed after the policy's idle limit (administrators): the
/// idle clock restarts. Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", params(("id" = i64, Path, description = "The user's id")), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn reactivate_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    actor.require(Permission::ManageUsers)?;
    load(&state, id).await?;
    state.store.touch_user(id, candor_store::now_ms()).await?;
    auth::record_action(&state, &actor, "user.reactivate", &target(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A training certificate as served.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TrainingView {
    pub id: i64,
    pub course: String,
    /// Unix ms UTC.
    pub completed_at: i64,
    pub expires_at: i64,
    /// User id of the program manager who recorded it.
    pub recorded_by: i64,
    pub recorded_at: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecordTraining {
    pub course: String,
    /// Completion date, `YYYY-MM-DD` (UTC).
    pub completed_on: String,
    /// Expiry date, `YYYY-MM-DD`; default: completion plus the policy's training validity.
    pub expires_on: Option<String>,
}

fn parse_date(field: &str, text: &str) -> Result<i64, ApiError> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_date",
                format!("{field} must be a date like 2026-11-28, not {text:?}"),
            )
        })
}

/// A person's training certificates, newest expiry first (program managers, administrators).
#[utoipa::path(get, path = "/api/v1/users/{id}/training", params(("id" = i64, Path, description = "The user's id")), responses((status = 200, body = Vec<TrainingView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_training(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<Vec<TrainingView>>, ApiError> {
    if actor.require(Permission::GrantAccess).is_err() {
        actor.require(Permission::ManageUsers)?;
    }
    load(&state, id).await?;
    let certs = state.store.training_certificates(id).await?;
    Ok(Json(
        certs
            .into_iter()
            .map(|c| TrainingView {
                id: c.id,
                course: c.course,
                completed_at: c.completed_at,
                expires_at: c.expires_at,
                recorded_by: c.recorded_by,
                recorded_at: c.recorded_at,
            })
            .collect(),
    ))
}

/// Records a completed training course (program managers). Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/training", params(("id" = i64, Path, description = "The user's id")), request_body = RecordTraining, responses(
    (status = 201, body = TrainingView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_training(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<serde_json::Value>,
) -> Result<(StatusCode, Json<TrainingView>), ApiError> {
    actor.require(Permission::GrantAccess)?;
    approvals::refuse_own(&actor, id)?;
    let req: RecordTraining = auth::parse_body(body)?;
    load(&state, id).await?;
    let course = req.course.trim();
    if course.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_course",
            "name the training course",
        ));
    }
    let completed_at = parse_date("completed_on", &req.completed_on)?;
    let now = candor_store::now_ms();
    if completed_at > now {
        return Err(ApiError::unprocessable(
            "invalid_date",
            "completed_on is in the future",
        ));
    }
    let expires_at = match &req.expires_on {
        Some(text) => parse_date("expires_on", text)?,
        None => {
            let policy = crate::routes::policy::policy_in_force(&state).await?;
            completed_at.saturating_add(
                i64::try_from(policy.document.training_validity.as_millis()).unwrap_or(i64::MAX),
            )
        }
    };
    let cert = state
        .store
        .record_training(id, course, completed_at, expires_at, actor.user_id, now)
        .await?;
    auth::record_action(
        &state,
        &actor,
        "training.record",
        &target(id),
        json!({"course": cert.course, "completed_at": completed_at, "expires_at": expires_at}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TrainingView {
            id: cert.id,
            course: cert.course,
            completed_at,
            expires_at,
            recorded_by: cert.recorded_by,
            recorded_at: cert.recorded_at,
        }),
    ))
}

/// Asks to grant access to plate data (program managers), only for another person with a
/// current training certificate: an administrator approves (`POST
/// /api/v1/approvals/{id}/approve`), and access starts then. Access lapses on its own when
/// the certificate expires. Audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/access", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 202, body = approvals::ApprovalView), (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn grant_access(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Outcome<StatusCode>, ApiError> {
    actor.require(Permission::GrantAccess)?;
    approvals::refuse_own(&actor, id)?;
    let user = load(&state, id).await?;
    approvals::require_current_training(&state, id, candor_store::now_ms()).await?;
    let summary = format!("grant {} access to plate data", user.username);
    let view = approvals::file(&state, &actor, Some(id), Change::GrantAccess, summary).await?;
    Ok(Outcome::Pending(view))
}

/// Withdraws access to plate data (program managers). Audited.
#[utoipa::path(delete, path = "/api/v1/users/{id}/access", params(("id" = i64, Path, description = "The user's id")), responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn revoke_access(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    actor.require(Permission::GrantAccess)?;
    load(&state, id).await?;
    state.store.revoke_access(id).await?;
    auth::record_action(&state, &actor, "access.revoke", &target(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
