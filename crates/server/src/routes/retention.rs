//! Retention: legal holds, purge on demand, purge receipts.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use candor_store::retention::{
    LegalHold, PurgeCounts, PurgeReceipt, RetentionPolicy, SignedReceipt, WindowSpan,
};
use serde::Deserialize;
use utoipa::OpenApi;

use crate::audit::{self, OpsEvent};
use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(
        place_hold,
        release_hold,
        list_holds,
        run_purge,
        list_receipts,
        retention_policy
    ),
    components(schemas(
        LegalHold,
        NewHold,
        Release,
        SignedReceipt,
        PurgeReceipt,
        PurgeCounts,
        WindowSpan,
        RetentionPolicy
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/holds", post(place_hold).get(list_holds))
        .route("/api/v1/holds/{id}/release", post(release_hold))
        .route("/api/v1/purge", post(run_purge))
        .route("/api/v1/purge/receipts", get(list_receipts))
        .route("/api/v1/retention", get(retention_policy))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    pub read_id: i64,
    pub reason: String,
    pub case_number: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub note: Option<String>,
}

/// Keeps a read (with its hits and image) past its expiry until released.
#[utoipa::path(post, path = "/api/v1/holds", request_body = NewHold,
    responses((status = 201, body = LegalHold), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn place_hold(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<NewHold>,
) -> Result<(StatusCode, Json<LegalHold>), ApiError> {
    actor.require(Permission::ManagePolicy)?;
    let h = body.parse()?;
    let hold = state
        .store
        .place_hold(
            h.read_id,
            &h.reason,
            &h.case_number,
            actor.user_id,
            &actor.username,
        )
        .await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "legal_hold.place",
            format!("legal_hold:{}", hold.id),
            serde_json::json!({ "read_id": hold.read_id, "case_number": hold.case_number, "reason": hold.reason }),
        ),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(hold)))
}

#[utoipa::path(post, path = "/api/v1/holds/{id}/release", params(("id" = i64, Path, description = "The legal hold's id")), request_body = Release,
    responses((status = 200, body = LegalHold), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn release_hold(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    body: ApiJson<Release>,
) -> Result<Json<LegalHold>, ApiError> {
    actor.require(Permission::ManagePolicy)?;
    let r = body.parse()?;
    let hold = state
        .store
        .release_hold(id, actor.user_id, &actor.username, r.note.as_deref())
        .await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "legal_hold.release",
            format!("legal_hold:{id}"),
            serde_json::json!({ "read_id": hold.read_id, "note": r.note }),
        ),
    )
    .await?;
    Ok(Json(hold))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct HoldFilter {
    /// Only holds not yet released (default true).
    pub active: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/holds", params(HoldFilter), responses((status = 200, body = [LegalHold])))]
pub async fn list_holds(
    State(state): State<AppState>,
    actor: Actor,
    Query(f): Query<HoldFilter>,
) -> Result<Json<Vec<LegalHold>>, ApiError> {
    actor.require(Permission::ManagePolicy)?;
    Ok(Json(
        state.store.list_holds(f.active.unwrap_or(true)).await?,
    ))
}

/// Runs the purge now and returns its signed receipt.
#[utoipa::path(post, path = "/api/v1/purge", responses((status = 200, body = SignedReceipt)))]
pub async fn run_purge(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<SignedReceipt>, ApiError> {
    actor.require(Permission::ManagePolicy)?;
    Ok(Json(crate::purge::run_purge(&state, Some(&actor)).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct Limit {
    pub limit: Option<i64>,
}

/// Signed purge receipts, newest first.
#[utoipa::path(get, path = "/api/v1/purge/receipts", params(Limit), responses((status = 200, body = [SignedReceipt])))]
pub async fn list_receipts(
    State(state): State<AppState>,
    actor: Actor,
    Query(l): Query<Limit>,
) -> Result<Json<Vec<SignedReceipt>>, ApiError> {
    actor.require(Permission::ManagePolicy)?;
    Ok(Json(
        state
            .store
            .list_receipts(l.limit.unwrap_or(100).clamp(1, 1000))
            .await?,
    ))
}

/// The retention in force, per class in seconds, and the policy version it comes from
/// (public: it is part of the published policy).
#[utoipa::path(get, path = "/api/v1/retention", responses((status = 200, body = RetentionPolicy)))]
pub async fn retention_policy(
    State(state): State<AppState>,
) -> Result<Json<RetentionPolicy>, ApiError> {
    Ok(Json(crate::retention::in_force(&state).await?))
}
