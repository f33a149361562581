//! The policy document: reading it, acknowledging the version in force (required before
//! anything else), and publishing a new version (program managers). Every version is kept.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_policy::PolicyDocument;
use candor_store::sessions::SessionStage;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use crate::auth::{self, Actor, Permission, SessionUser};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(get_policy, acknowledge_policy, publish_policy, list_versions),
    components(schemas(PolicyView, Acknowledge, PolicyVersionView))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policy", get(get_policy).put(publish_policy))
        .route("/api/v1/policy/acknowledge", post(acknowledge_policy))
        .route("/api/v1/policy/versions", get(list_versions))
}

/// The policy version in force.
#[derive(Debug, Clone)]
pub struct PolicyInForce {
    pub version: i64,
    pub document: PolicyDocument,
}

/// The newest stored policy; on first use, the safe defaults for a new agency are stored as
/// version 1 (under the configured agency name). Its retention is the one in force
/// (`crate::retention`).
pub async fn policy_in_force(state: &AppState) -> Result<PolicyInForce, ApiError> {
    if let Some(stored) = state.store.current_policy().await? {
        let document = PolicyDocument::from_json(&stored.document).map_err(|e| {
            ApiError::internal(format!(
                "the stored policy version {} is unreadable: {e}",
                stored.version
            ))
        })?;
        return Ok(PolicyInForce {
            version: stored.version,
            document,
        });
    }
    let mut document = PolicyDocument::default_for_new_agency();
    document.agency_name = state.config.agency_name.clone();
    let version = i64::from(document.version);
    match state
        .store
        .save_policy_version(
            version,
            &document.to_json(),
            &crate::retention::of_document(version, &document),
            None,
            candor_store::now_ms(),
        )
        .await
    {
        Ok(_) => Ok(PolicyInForce { version, document }),
        // Another request stored the defaults first: use what is stored.
        Err(candor_store::StoreError::Conflict(_)) => Box::pin(policy_in_force(state)).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub version: i64,
    /// Whether the caller has acknowledged this version.
    pub acknowledged: bool,
    /// The policy document (purposes, limits, retention, review settings).
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

/// The policy in force (any signed-in user; read it before acknowledging it).
#[utoipa::path(get, path = "/api/v1/policy", responses((status = 200, body = PolicyView), (status = 401, body = ErrorBody)))]
pub async fn get_policy(
    State(state): State<AppState>,
    su: SessionUser,
) -> Result<Json<PolicyView>, ApiError> {
    let policy = policy_in_force(&state).await?;
    let acknowledged =
        state.store.acknowledged_policy_version(su.user.id).await? == Some(policy.version);
    Ok(Json(PolicyView {
        version: policy.version,
        acknowledged,
        document: serde_json::to_value(&policy.document).unwrap_or_default(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Acknowledge {
    /// The version read; must be the one in force.
    pub version: i64,
}

/// Acknowledges the policy version in force. Audited.
#[utoipa::path(post, path = "/api/v1/policy/acknowledge", request_body = Acknowledge, responses(
    (status = 204), (status = 409, description = "a newer version is in force", body = ErrorBody)))]
pub async fn acknowledge_policy(
    State(state): State<AppState>,
    su: SessionUser,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::http::StatusCode, ApiError> {
    if su.session.stage != SessionStage::Full {
        return Err(ApiError::forbidden(
            "mfa_enrolment_required",
            "set up your authenticator app first, then acknowledge the policy",
        ));
    }
    let req: Acknowledge = auth::parse_body(body)?;
    let policy = policy_in_force(&state).await?;
    if req.version != policy.version {
        return Err(ApiError::conflict(
            "policy_changed",
            format!(
                "version {} is in force, not {}: read the current policy and acknowledge that",
                policy.version, req.version
            ),
        ));
    }
    state
        .store
        .acknowledge_policy(su.user.id, policy.version, candor_store::now_ms())
        .await?;
    auth::append_audit_record(
        &state,
        candor_audit::Actor::User {
            id: su.user.id.to_string(),
            name: su.user.username.clone(),
        },
        "policy.acknowledge",
        &format!("policy:v{}", policy.version),
        "success",
        &su.remote_addr,
        json!({"version": policy.version}),
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Publishes a new version of the policy (program managers). The version number is set by
/// the server (one above the current); every user must acknowledge it before doing
/// anything else. Its retention is in force at once: reads without a hit and images
/// already stored are shortened to it (never lengthened; hits keep their expiry). Audited.
#[utoipa::path(put, path = "/api/v1/policy", request_body(content = Object, description = "the policy document"), responses(
    (status = 200, body = PolicyView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn publish_policy(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<PolicyView>, ApiError> {
    publish(&state, &actor, body, None).await.map(Json)
}

/// Publishes `body` as the next policy version (the API's `PUT /api/v1/policy` and the
/// console's editor): checks the permission, validates the document, stores it (applying
/// its retention to what is stored, in the same transaction) and audits the change with the
/// editor's note, if any, and how many records its retention shortened.
pub async fn publish(
    state: &AppState,
    actor: &Actor,
    body: serde_json::Value,
    note: Option<&str>,
) -> Result<PolicyView, ApiError> {
    actor.require(Permission::ManagePolicy)?;
    let current = policy_in_force(state).await?;
    let mut document: PolicyDocument = serde_json::from_value(body).map_err(|e| {
        ApiError::unprocessable(
            "invalid_policy",
            format!("the policy document is not valid: {e}"),
        )
    })?;
    let version = current.version + 1;
    document.version = u32::try_from(version)
        .map_err(|_| ApiError::unprocessable("invalid_policy", "too many policy versions"))?;
    document
        .validate()
        .map_err(|e| ApiError::unprocessable("invalid_policy", e.to_string()))?;
    let shortened = state
        .store
        .save_policy_version(
            version,
            &document.to_json(),
            &crate::retention::of_document(version, &document),
            Some(actor.user_id),
            candor_store::now_ms(),
        )
        .await?;
    auth::record_action(
        state,
        actor,
        "policy.change",
        &format!("policy:v{version}"),
        json!({"version": version, "previous": current.version, "note": note,
               "retention_shortened": shortened}),
    )
    .await?;
    Ok(PolicyView {
        version,
        acknowledged: false,
        document: serde_json::to_value(&document).unwrap_or_default(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyVersionView {
    pub version: i64,
    pub created_at: i64,
    /// User id of the program manager; none for the first-start defaults.
    pub created_by: Option<i64>,
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

/// Every policy version, newest first (program managers, auditors, supervisors).
#[utoipa::path(get, path = "/api/v1/policy/versions", responses(
    (status = 200, body = Vec<PolicyVersionView>), (status = 403, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<PolicyVersionView>>, ApiError> {
    if actor.require(Permission::ManagePolicy).is_err() {
        actor.require(Permission::ReadAudit)?;
    }
    policy_in_force(&state).await?;
    let versions = state.store.policy_versions().await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| PolicyVersionView {
                version: v.version,
                created_at: v.created_at,
                created_by: v.created_by,
                document: serde_json::from_str(&v.document).unwrap_or_default(),
            })
            .collect(),
    ))
}
