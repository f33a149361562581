//! Separation of duties, as a flow: a change that opens plate data to a person is filed as a
//! request by one person and takes effect only when a second person of the other role
//! approves it (`candor_policy::DualControl` says who starts and who approves). The request,
//! the approval and the rejection are each in the audit log, naming both people.

use candor_policy::{DualControl, DutyRefused};
use candor_store::approvals::{ApprovalRequest, NewApprovalRequest};
use candor_store::users::NewUser;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{self, Actor};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a request waits for its second person.
pub const REQUEST_LIFETIME_MS: i64 = 7 * 86_400_000;

/// What a request will do once approved; stored as its payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    GrantAccess,
    SetRole {
        role: String,
    },
    SetPassword {
        password_hash: String,
    },
    ResetMfa,
    CreateUser {
        username: String,
        display_name: String,
        role: String,
        password_hash: String,
    },
}

impl Change {
    pub fn kind(&self) -> DualControl {
        match self {
            Change::GrantAccess => DualControl::GrantAccess,
            Change::SetRole { .. } => DualControl::ChangeRole,
            Change::SetPassword { .. } => DualControl::ResetPassword,
            Change::ResetMfa => DualControl::ResetMfa,
            Change::CreateUser { .. } => DualControl::CreateProgramManager,
        }
    }
}

/// A request as the API serves it (never its payload: a password hash stays inside).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApprovalView {
    pub id: i64,
    /// `access.grant`, `user.role`, `user.password_reset`, `user.mfa_reset` or `user.create`.
    pub kind: String,
    pub summary: String,
    pub target_user_id: Option<i64>,
    pub requested_by: i64,
    pub requested_at: i64,
    pub expires_at: i64,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    /// Who must approve: `a program manager` or `an administrator`.
    pub approver: String,
}

impl From<&ApprovalRequest> for ApprovalView {
    fn from(r: &ApprovalRequest) -> Self {
        let approver = DualControl::from_code(&r.kind)
            .map(|k| k.approver_title())
            .unwrap_or("a second person");
        let status = match (&r.outcome, r.expires_at <= candor_store::now_ms()) {
            (Some(o), _) => o.clone(),
            (None, true) => "expired".into(),
            (None, false) => "pending".into(),
        };
        ApprovalView {
            id: r.id,
            kind: r.kind.clone(),
            summary: r.summary.clone(),
            target_user_id: r.target_user_id,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            status,
            approver: approver.to_string(),
        }
    }
}

/// The API error for a refusal under separation of duties.
pub fn refused(e: DutyRefused) -> ApiError {
    match e {
        DutyRefused::AlreadyDecided | DutyRefused::Expired => {
            ApiError::conflict("request_closed", e.to_string())
        }
        _ => ApiError::forbidden("separation_of_duties", e.to_string()),
    }
}

/// Refuses an action a person would take about themselves (training, grant, role).
pub fn refuse_own(actor: &Actor, target: i64) -> Result<(), ApiError> {
    candor_policy::check_start(actor.user_id, Some(target)).map_err(refused)
}

/// Files `change` about `target` for a second person to approve; audited as
/// `approval.request`. The actor must hold the permission that starts such a change.
pub async fn file(
    state: &AppState,
    actor: &Actor,
    target: Option<i64>,
    change: Change,
    summary: String,
) -> Result<ApprovalView, ApiError> {
    let kind = change.kind();
    actor.require(kind.started_with())?;
    if matches!(kind, DualControl::GrantAccess | DualControl::ChangeRole) {
        candor_policy::check_start(actor.user_id, target).map_err(refused)?;
    }
    let now = candor_store::now_ms();
    let payload = serde_json::to_string(&change).map_err(|e| ApiError::internal(e.to_string()))?;
    let req = state
        .store
        .file_approval_request(
            &NewApprovalRequest {
                kind: kind.code().to_string(),
                target_user_id: target,
                payload,
                summary: summary.clone(),
                requested_by: actor.user_id,
                expires_at: now + REQUEST_LIFETIME_MS,
            },
            now,
        )
        .await?;
    auth::record_action(
        state,
        actor,
        "approval.request",
        &target_text(target),
        json!({"request": req.id, "kind": kind.code(), "summary": summary,
               "approver": kind.approver_title()}),
    )
    .await?;
    Ok(ApprovalView::from(&req))
}

fn target_text(target: Option<i64>) -> String {
    target.map_or_else(|| "user:new".to_string(), |id| format!("user:{id}"))
}

async fn open_request(
    state: &AppState,
    id: i64,
) -> Result<(ApprovalRequest, DualControl), ApiError> {
    let req = state
        .store
        .approval_request(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no approval request with id {id}")))?;
    if req.decided_at.is_some() {
        return Err(refused(DutyRefused::AlreadyDecided));
    }
    if req.expires_at <= candor_store::now_ms() {
        return Err(refused(DutyRefused::Expired));
    }
    let kind = DualControl::from_code(&req.kind)
        .ok_or_else(|| ApiError::internal(format!("unknown request kind {:?}", req.kind)))?;
    Ok((req, kind))
}

/// The second person approves: checked against the rule, then the change is made and
/// recorded under its own action name, naming who asked and who approved.
pub async fn approve(state: &AppState, actor: &Actor, id: i64) -> Result<ApprovalView, ApiError> {
    require_decider(actor)?;
    let (req, kind) = open_request(state, id).await?;
    candor_policy::check_approval(
        kind,
        req.requested_by,
        req.target_user_id,
        actor.user_id,
        actor.role,
    )
    .map_err(refused)?;
    let change: Change = serde_json::from_str(&req.payload)
        .map_err(|e| ApiError::internal(format!("approval request {id} is unreadable: {e}")))?;
    let now = candor_store::now_ms();
    // What can be refused is checked before the request is spent.
    let target = match req.target_user_id {
        Some(t) => Some(
            state
                .store
                .user_by_id(t)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no user with id {t}")))?,
        ),
        None => None,
    };
    let plate_role = |role: &str| {
        role.parse::<candor_policy::Role>()
            .is_ok_and(|r| r.permissions().iter().any(|p| p.exposes_plate_data()))
    };
    match (&change, &target) {
        (Change::GrantAccess, Some(t)) => require_current_training(state, t.id, now).await?,
        (Change::SetRole { role }, Some(t)) if plate_role(role) => {
            require_current_training(state, t.id, now).await?
        }
        (Change::CreateUser { username, .. }, _) => {
            candor_store::users::check_username(username)?;
        }
        (_, None) => return Err(ApiError::internal("approval request has no account")),
        _ => {}
    }
    if !state
        .store
        .decide_approval_request(id, actor.user_id, "approved", now)
        .await?
    {
        return Err(refused(DutyRefused::AlreadyDecided));
    }
    let mut details = json!({"request": id, "requested_by": req.requested_by,
        "approved_by": actor.user_id, "summary": req.summary});
    let mut target_id = req.target_user_id;
    match (change, target) {
        (Change::GrantAccess, Some(t)) => {
            state
                .store
                .grant_access(t.id, req.requested_by, now)
                .await?;
        }
        (Change::SetRole { role }, Some(t)) => {
            if plate_role(&role) {
                state
                    .store
                    .grant_access(t.id, req.requested_by, now)
                    .await?;
            }
            state.store.set_user_role(t.id, &role).await?;
            state
                .store
                .end_user_sessions(t.id, now, "role changed")
                .await?;
            details["role"] = json!({"from": t.role, "to": role});
        }
        (Change::SetPassword { password_hash }, Some(t)) => {
            state
                .store
                .set_admin_password_hash(t.id, &password_hash)
                .await?;
            state
                .store
                .end_user_sessions(t.id, now, "password reset")
                .await?;
        }
        (Change::ResetMfa, Some(t)) => {
            state.store.reset_totp(t.id).await?;
            state
                .store
                .end_user_sessions(t.id, now, "authenticator reset")
                .await?;
        }
        (
            Change::CreateUser {
                username,
                display_name,
                role,
                password_hash,
            },
            _,
        ) => {
            let user = state
                .store
                .create_user(
                    &NewUser {
                        username,
                        display_name,
                        role,
                        password_hash,
                        created_by: Some(req.requested_by),
                    },
                    now,
                )
                .await?;
            state.store.require_password_change(user.id).await?;
            details["username"] = json!(user.username);
            details["role"] = json!(user.role);
            target_id = Some(user.id);
        }
        (_, None) => return Err(ApiError::internal("approval request has no account")),
    }
    auth::record_action(state, actor, kind.code(), &target_text(target_id), details).await?;
    let decided = state.store.approval_request(id).await?;
    Ok(ApprovalView::from(decided.as_ref().unwrap_or(&req)))
}

/// The second person rejects; nothing changes. Audited as `approval.reject`. The person who
/// asked may withdraw their own request the same way.
pub async fn reject(state: &AppState, actor: &Actor, id: i64) -> Result<ApprovalView, ApiError> {
    require_decider(actor)?;
    let (req, kind) = open_request(state, id).await?;
    if actor.user_id != req.requested_by {
        candor_policy::check_approval(
            kind,
            req.requested_by,
            req.target_user_id,
            actor.user_id,
            actor.role,
        )
        .map_err(refused)?;
    }
    let now = candor_store::now_ms();
    if !state
        .store
        .decide_approval_request(id, actor.user_id, "rejected", now)
        .await?
    {
        return Err(refused(DutyRefused::AlreadyDecided));
    }
    auth::record_action(
        state,
        actor,
        "approval.reject",
        &target_text(req.target_user_id),
        json!({"request": id, "kind": kind.code(), "requested_by": req.requested_by,
               "summary": req.summary}),
    )
    .await?;
    let decided = state.store.approval_request(id).await?;
    Ok(ApprovalView::from(decided.as_ref().unwrap_or(&req)))
}

/// Only administrators and program managers start, see or decide requests; checked first,
/// so that nobody else learns whether a request exists.
fn require_decider(actor: &Actor) -> Result<(), ApiError> {
    actor.require_any(&[
        candor_policy::Permission::ManageUsers,
        candor_policy::Permission::GrantAccess,
    ])
}

/// Open requests that `actor` started or may decide (administrators, program managers).
pub async fn open_for(state: &AppState, actor: &Actor) -> Result<Vec<ApprovalView>, ApiError> {
    require_decider(actor)?;
    let open = state
        .store
        .open_approval_requests(candor_store::now_ms())
        .await?;
    Ok(open.iter().map(ApprovalView::from).collect())
}

/// Refuses unless `user_id` holds a current training certificate.
pub async fn require_current_training(
    state: &AppState,
    user_id: i64,
    now: i64,
) -> Result<(), ApiError> {
    match state.store.training_expiry(user_id).await? {
        Some(expiry) if expiry > now => Ok(()),
        _ => Err(ApiError::unprocessable(
            "training_required",
            "this person has no current ALPR training certificate: record the completed training first (POST /api/v1/users/{id}/training)",
        )),
    }
}

/// What an action that may need a second person answered: done now, or filed for approval
/// (202 Accepted with the request).
pub enum Outcome<T> {
    Applied(T),
    Pending(ApprovalView),
}

impl<T: axum::response::IntoResponse> axum::response::IntoResponse for Outcome<T> {
    fn into_response(self) -> axum::response::Response {
        match self {
            Outcome::Applied(t) => t.into_response(),
            Outcome::Pending(view) => {
                (axum::http::StatusCode::ACCEPTED, axum::Json(view)).into_response()
            }
        }
    }
}
