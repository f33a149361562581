//! Purpose-bound search over reads and hits: thin JSON handlers over
//! [`crate::search::run_search`], which checks the purpose against the policy, finds the
//! reads, and audits the search durably before results are returned.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::auth::{Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::search::{Area, PurposeBody, SearchRequest, SearchResults, SearchTarget, run_search};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(search_reads, search_hits),
    components(schemas(SearchRequest, PurposeBody, Area, SearchResults))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/search/reads", post(search_reads))
        .route("/api/v1/search/hits", post(search_hits))
}

/// Searches reads by full or partial plate (`?`, `*`), optionally with look-alikes, over a
/// time range, cameras and area, with a purpose (investigators, supervisors). Audited
/// before results are returned.
#[utoipa::path(post, path = "/api/v1/search/reads", request_body = SearchRequest, responses(
    (status = 200, body = SearchResults), (status = 403, body = ErrorBody),
    (status = 422, description = "bad query, or purpose or limits refused by policy", body = ErrorBody)))]
pub async fn search_reads(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<SearchRequest>,
) -> Result<Json<SearchResults>, ApiError> {
    actor.require(Permission::SearchReads)?;
    let req = body.parse()?;
    Ok(Json(
        run_search(&state, &actor, SearchTarget::Reads, req).await?,
    ))
}

/// Searches hits (reads that matched a hot list, with their hits and dispositions), with
/// the same query and purpose rules as a read search. Audited before results are returned.
#[utoipa::path(post, path = "/api/v1/search/hits", request_body = SearchRequest, responses(
    (status = 200, body = SearchResults), (status = 403, body = ErrorBody),
    (status = 422, description = "bad query, or purpose or limits refused by policy", body = ErrorBody)))]
pub async fn search_hits(
    State(state): State<AppState>,
    actor: Actor,
    body: ApiJson<SearchRequest>,
) -> Result<Json<SearchResults>, ApiError> {
    actor.require(Permission::SearchHits)?;
    let req = body.parse()?;
    Ok(Json(
        run_search(&state, &actor, SearchTarget::Hits, req).await?,
    ))
}
