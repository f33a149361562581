//! Camera registry (administrators): register, inspect, change, suspend, decommission,
//! rotate API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::cameras::{Camera, CameraUpdate, NewCamera};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::audit::{self, OpsEvent};
use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::streams::StreamView;

#[derive(OpenApi)]
#[openapi(
    paths(
        create_camera,
        list_cameras,
        get_camera,
        update_camera,
        rotate_key,
        set_stream,
        remove_stream,
        get_stream
    ),
    components(schemas(
        Camera,
        NewCamera,
        CameraUpdate,
        CameraWithKey,
        ApiKey,
        StreamAddressBody,
        StreamView
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cameras", post(create_camera).get(list_cameras))
        .route("/api/v1/cameras/{id}", get(get_camera).patch(update_camera))
        .route("/api/v1/cameras/{id}/rotate-key", post(rotate_key))
        .route(
            "/api/v1/cameras/{id}/stream",
            get(get_stream).put(set_stream).delete(remove_stream),
        )
}

/// A camera's stream address.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamAddressBody {
    /// `rtsp://user:password@host/path`, `http(s)://…` (MJPEG, MPEG-TS, snapshots), or a
    /// video file when `streams.allow_files` is on. Credentials are stored sealed and never
    /// shown again.
    pub address: String,
}

/// Sets the stream the server watches for this camera (while it is approved and active).
#[utoipa::path(put, path = "/api/v1/cameras/{id}/stream", params(("id" = String, Path, description = "The camera's id")), request_body = StreamAddressBody,
    responses((status = 200, body = Camera), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_stream(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    body: ApiJson<StreamAddressBody>,
) -> Result<Json<Camera>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let body = body.parse()?;
    let cam = crate::streams::set_address(&state, &actor, &id, Some(&body.address)).await?;
    Ok(Json(cam))
}

/// Removes the camera's stream: the server stops watching it.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}/stream", params(("id" = String, Path, description = "The camera's id")),
    responses((status = 200, body = Camera), (status = 404, body = ErrorBody)))]
pub async fn remove_stream(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Camera>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let cam = crate::streams::set_address(&state, &actor, &id, None).await?;
    Ok(Json(cam))
}

/// What the camera's stream is doing: watched or why not, connected, frame rates, passes,
/// the last error.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/stream", params(("id" = String, Path, description = "The camera's id")),
    responses((status = 200, body = StreamView), (status = 404, body = ErrorBody)))]
pub async fn get_stream(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    actor.require(Permission::ManageCameras)?;
    let cam = state
        .store
        .get_camera(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("camera {id:?} not found")))?;
    Ok(Json(state.streams.view(&id, cam.stream.as_deref())))
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
