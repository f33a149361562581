//! Probes and the API document.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(paths(health, openapi_json), components(schemas(Health)))]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/openapi.json", get(openapi_json))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// "ok" when the database answers.
    pub status: String,
    pub version: String,
}

/// Liveness and readiness: answers 200 when the database answers.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health), (status = 500, body = crate::error::ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    sqlx_ping(&state).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

async fn sqlx_ping(state: &AppState) -> Result<(), ApiError> {
    state.store.ping().await.map_err(ApiError::from)
}

/// The OpenAPI document for this API.
#[utoipa::path(get, path = "/api/openapi.json", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}
