//! Hot lists (import, list, delete) and user hot plates (enter, approve, reject).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use candor_store::hotlists::{
    HotList, HotListSpec, ImportFormat, ImportReport, LineError, ListSource, NewUserPlate,
    UserPlate, UserPlateStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::audit::{self, OpsEvent};
use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{ApiJson, read_body};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;

#[derive(OpenApi)]
#[openapi(
    paths(
        import_list,
        list_lists,
        delete_list,
        create_user_plate,
        list_user_plates,
        approve_user_plate,
        reject_user_plate
    ),
    components(schemas(
        HotList,
        ImportReport,
        LineError,
        ImportResult,
        ImportRejected,
        NewUserPlate,
        UserPlate,
        Decision,
        ListSource,
        UserPlateStatus
    ))
)]
pub struct Doc;

/// The largest hot-list file an import takes (API, and the console's form). The CLI
/// (`candor import`) reads files of any size.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/hotlists", get(list_lists))
        .route("/api/v1/hotlists/import", post(import_list))
        .route("/api/v1/hotlists/{id}", delete(delete_list))
        .route(
            "/api/v1/hotplates",
            post(create_user_plate).get(list_user_plates),
        )
        .route("/api/v1/hotplates/{id}/approve", post(approve_user_plate))
        .route("/api/v1/hotplates/{id}/reject", post(reject_user_plate))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// List name; importing under an existing name replaces that list atomically.
    pub name: String,
    /// ncic, state, amber or user.
    pub source: String,
    /// ncic (fixed-width extract) or csv.
    pub format: String,
    /// Hit type for CSV entries (NCIC list code); NCIC lines carry their own.
    pub hit_type: Option<String>,
    /// 1 (highest) – 9; default 5.
    pub priority: Option<i64>,
    /// How long hits on this list are kept, seconds (policy default if absent).
    pub hit_retention_secs: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    pub list: HotList,
    pub report: ImportReport,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportRejected {
    pub error: ErrorDetail,
    pub report: ImportReport,
}

/// Imports a hot-list file (NCIC extract or CSV) as one transaction: if any line is bad,
/// nothing is imported and the report lists every bad line.
#[utoipa::path(post, path = "/api/v1/hotlists/import", params(ImportParams), request_body(content = String, content_type = "text/plain"),
    responses((status = 201, body = ImportResult), (status = 422, body = ImportRejected), (status = 415, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn import_list(
    State(state): State<AppState>,
    actor: Actor,
    params: Result<Query<ImportParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    actor.require(Permission::ManageHotLists)?;
    // Parameters are checked only after the permission, so a refusal reveals nothing.
    let Query(params) = params.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "{}; give name, source and format (ncic or csv)",
                e.body_text()
            ),
        )
    })?;
    let limit = MAX_IMPORT_BYTES;
    let (_, bytes) = read_body(
        &headers,
        body,
        limit,
        &["text/plain", "text/csv", "application/octet-stream"],
    )
    .await?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        ApiError::bad_request(
            "not_utf8",
            format!("this is not a text file: byte {} is not UTF-8; import the list as CSV text or as the NCIC text extract", e.valid_up_to()),
        )
    })?;
    let (list, report) = import_text(&state, &actor, &params, text).await?;
    match list {
        None => {
            let error = ErrorDetail {
                code: "import_rejected".into(),
                message: format!(
                    "{} line(s) are invalid, so nothing was imported and the current list is unchanged; fix them and import again",
                    report.error_count
                ),
            };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ImportRejected { error, report }),
            )
                .into_response())
        }
        Some(list) => {
            Ok((StatusCode::CREATED, Json(ImportResult { list, report })).into_response())
        }
    }
}

/// Imports a hot list's text as one transaction (the API's upload and the console's form):
/// checks the permission, validates every line, audits the import and, when accepted,
/// rebuilds the matcher. A refused file leaves the current list unchanged (`None`).
pub async fn import_text(
    state: &AppState,
    actor: &Actor,
    params: &ImportParams,
    text: &str,
) -> Result<(Option<HotList>, ImportReport), ApiError> {
    actor.require(Permission::ManageHotLists)?;
    let format = ImportFormat::parse(&params.format)?;
    let spec = HotListSpec {
        name: params.name.clone(),
        source: ListSource::parse(&params.source)?,
        hit_type: params.hit_type.clone().unwrap_or_else(|| {
            if format == ImportFormat::Ncic {
                "V".into()
            } else {
                String::new()
            }
        }),
        priority: params.priority.unwrap_or(5),
        hit_retention_secs: params.hit_retention_secs,
    };
    let (list, report) = state
        .store
        .import_hot_list(
            &spec,
            format,
            text,
            &state.config.matching.excluded_hit_types,
        )
        .await?;
    audit::record(
        state,
        OpsEvent::by(
            actor,
            "hotlist.import",
            format!("hotlist:{}", spec.name),
            serde_json::json!({ "format": params.format, "accepted": report.accepted, "excluded": report.excluded,
                "errors": report.error_count, "rejected": report.rejected, "version": list.as_ref().map(|l| l.version) }),
        ),
    )
    .await?;
    if list.is_some() {
        state.matcher.rebuild(&state.store).await?;
    }
    Ok((list, report))
}

#[utoipa::path(get, path = "/api/v1/hotlists", responses((status = 200, body = [HotList])))]
pub async fn list_lists(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<HotList>>, ApiError> {
    actor.require(Permission::ManageHotLists)?;
    Ok(Json(state.store.list_hot_lists().await?))
}

#[utoipa::path(delete, path = "/api/v1/hotlists/{id}", params(("id" = i64, Path, description = "The hot list's id")), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_list(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    actor.require(Permission::ManageHotLists)?;
    state.store.delete_hot_list(id).await?;
    state.matcher.rebuild(&state.store).await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "hotlist.delete",
            format!("hotlist:{id}"),
            serde_json::json!({}),
        ),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enters a user hot plate (reason, case number, expiry within the policy's maximum). It
/// matches only after a supervisor approves it.
#[utoipa::path(post, path = "/api/v1/hotplates", request_body = NewUserPlate,
    responses((status = 201, body = UserPlate), (status = 422, body = ErrorBody)))]
pub async fn create_user_plate(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<NewUserPlate>,
) -> Result<(StatusCode, Json<UserPlate>), ApiError> {
    actor.require(Permission::EnterUserHotPlates)?;
    let new = body.parse()?;
    let max = state.config.hot_plates.max_days * 86_400_000;
    let plate = state
        .store
        .create_user_plate(&new, actor.user_id, &actor.username, max)
        .await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            "hotplate.create",
            format!("hotplate:{}", plate.id),
            serde_json::json!({ "case_number": plate.case_number, "expires_at": plate.expires_at }),
        ),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(plate)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PlateFilter {
    /// pending, approved or rejected.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/hotplates", params(PlateFilter), responses((status = 200, body = [UserPlate])))]
pub async fn list_user_plates(
    State(state): State<AppState>,
    actor: Actor,
    Query(f): Query<PlateFilter>,
) -> Result<Json<Vec<UserPlate>>, ApiError> {
    // Those who enter user hot plates and the supervisors who approve them.
    actor.require_any(&[
        Permission::EnterUserHotPlates,
        Permission::ApproveUserHotPlates,
    ])?;
    let status = f
        .status
        .as_deref()
        .map(UserPlateStatus::parse)
        .transpose()?;
    Ok(Json(state.store.list_user_plates(status).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub note: Option<String>,
}

async fn decide(
    state: AppState,
    actor: Actor,
    id: i64,
    approve: bool,
    body: ApiJson<Decision>,
) -> Result<Json<UserPlate>, ApiError> {
    actor.require(Permission::ApproveUserHotPlates)?;
    let note = body.parse()?.note;
    let plate = state
        .store
        .decide_user_plate(id, approve, actor.user_id, &actor.username, note.as_deref())
        .await?;
    state.matcher.rebuild(&state.store).await?;
    audit::record(
        &state,
        OpsEvent::by(
            &actor,
            if approve {
                "hotplate.approve"
            } else {
                "hotplate.reject"
            },
            format!("hotplate:{id}"),
            serde_json::json!({ "note": note }),
        ),
    )
    .await?;
    Ok(Json(plate))
}

/// A supervisor (not the person who entered it) approves a user hot plate: it starts matching.
#[utoipa::path(post, path = "/api/v1/hotplates/{id}/approve", params(("id" = i64, Path, description = "The hot-list entry's id")), request_body = Decision,
    responses((status = 200, body = UserPlate), (status = 409, body = ErrorBody)))]
pub async fn approve_user_plate(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    body: ApiJson<Decision>,
) -> Result<Json<UserPlate>, ApiError> {
    decide(state, actor, id, true, body).await
}

#[utoipa::path(post, path = "/api/v1/hotplates/{id}/reject", params(("id" = i64, Path, description = "The hot-list entry's id")), request_body = Decision,
    responses((status = 200, body = UserPlate), (status = 409, body = ErrorBody)))]
pub async fn reject_user_plate(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    body: ApiJson<Decision>,
) -> Result<Json<UserPlate>, ApiError> {
    decide(state, actor, id, false, body).await
}
