//! Camera registry (administrators): register, inspect, change, suspend, decommission,
//! rotate API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::cameras::{Camera, CameraUpdate, NewCamera};
use serde::Serialize;
use utoipa::OpenApi;

use crate::audit::{self, OpsEvent};
use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(create_camera, list_cameras, get_camera, update_camera, rotate_key),
    components(schemas(Camera, NewCamera, CameraUpdate, CameraWithKey, ApiKey))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cameras", post(create_camera).get(list_cameras))
        .route("/api/v1/cameras/{id}", get(get_camera).patch(update_camera))
        .route("/api/v1/cameras/{id}/rotate-key", post(rotate_key))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CameraWithKey {
    pub camera: Camera,
    /// The camera's API key: shown only now.
    pub api_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// The new API key: shown only now; the old one no longer works.
    pub api_key: String,
}

/// Registers a camera. Reads are refused until its approval record is complete.
#[utoipa::path(post, path = "/api/v1/cameras", request_body = NewCamera,
    responses((status = 201, body = CameraWithKey), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_camera(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<NewCamera>,
) -> Result<(StatusCode, Json<CameraWithKey>), ApiError> {
    actor.require(Permission::ManageCameras)?;
    let new = body.parse()?;
    let (camera, api_key) = state.store.create_camera(&new).await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "camera.create",
            format!("camera:{}", camera.id),
            serde_json::json!({ "approved": camera.approved }),
        ),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CameraWithKey { camera, api_key })))
}

#[utoipa::path(get, path = "/api/v1/cameras", responses((status = 200, body = [Camera])))]
pub async fn list_cameras(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<Camera>>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    Ok(Json(state.store.list_cameras().await?))
}

#[utoipa::path(get, path = "/api/v1/cameras/{id}", params(("id" = String, Path, description = "The camera's id")), responses((status = 200, body = Camera), (status = 404, body = ErrorBody)))]
pub async fn get_camera(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Camera>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let cam = state
        .store
        .get_camera(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("camera {id:?} not found")))?;
    Ok(Json(cam))
}

/// Changes a camera: placement, approval record, status (active, suspended,
/// decommissioned; decommissioning is final).
#[utoipa::path(patch, path = "/api/v1/cameras/{id}", params(("id" = String, Path, description = "The camera's id")), request_body = CameraUpdate,
    responses((status = 200, body = Camera), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_camera(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    body: ApiJson<CameraUpdate>,
) -> Result<Json<Camera>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let update = body.parse()?;
    let cam = state.store.update_camera(&id, &update).await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "camera.update",
            format!("camera:{id}"),
            serde_json::json!({ "status": cam.status, "approved": cam.approved, "change": update }),
        ),
    )
    .await?;
    Ok(Json(cam))
}

#[utoipa::path(post, path = "/api/v1/cameras/{id}/rotate-key", params(("id" = String, Path, description = "The camera's id")), responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let api_key = state.store.rotate_camera_key(&id).await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "camera.rotate_key",
            format!("camera:{id}"),
            serde_json::json!({}),
        ),
    )
    .await?;
    Ok(Json(ApiKey { api_key }))
}
