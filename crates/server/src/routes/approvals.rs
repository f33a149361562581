//! Requests waiting for a second person (separation of duties): list, approve, reject. The
//! flow lives in `crate::approvals`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::approvals::{self, ApprovalView};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(list_approvals, approve, reject),
    components(schemas(ApprovalView))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/approvals", get(list_approvals))
        .route("/api/v1/approvals/{id}/approve", post(approve))
        .route("/api/v1/approvals/{id}/reject", post(reject))
}

/// Open requests, oldest first (administrators, program managers).
#[utoipa::path(get, path = "/api/v1/approvals", responses(
    (status = 200, body = Vec<ApprovalView>), (status = 403, body = ErrorBody)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    Ok(Json(approvals::open_for(&state, &actor).await?))
}

/// Approves a request: the change is made now. Only a person of the other role than the
/// one who asked, and never the person it is about. Audited under the change's own action.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve",
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, body = ApprovalView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<ApprovalView>, ApiError> {
    Ok(Json(approvals::approve(&state, &actor, id).await?))
}

/// Rejects a request (or withdraws one's own); nothing changes. Audited.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject",
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, body = ApprovalView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<ApprovalView>, ApiError> {
    Ok(Json(approvals::reject(&state, &actor, id).await?))
}
