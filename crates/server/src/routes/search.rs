//! Purpose-bound search over stored reads. A search runs only with a purpose the policy
//! allows (category, case number in the policy's format, free text) and within its limits;
//! it is recorded in the audit log, with the purpose, the query, the result count and the
//! policy version in force, durably before any result is returned.
//!
//! Full-plate search goes through the per-window blind index (HMAC of the normalised plate).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use candor_policy::{PlateQuery, Purpose, SearchShape, check_search};
use candor_store::reads::StoredRead;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(search_reads),
    components(schemas(SearchRequest, PurposeBody, SearchAnswer))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/search/reads", post(search_reads))
}

/// Why a search is made.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PurposeBody {
    /// A purpose category code from the policy (e.g. `burglary`, `amber_alert`).
    pub category: String,
    /// Case or incident number, in the policy's format.
    pub case_number: String,
    /// The reason, in words.
    pub free_text: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    /// The full plate (spaces and dashes are ignored).
    pub plate: String,
    /// From this capture time (Unix ms, inclusive).
    pub from: i64,
    /// Until this capture time (Unix ms, exclusive).
    pub to: i64,
    /// Only these cameras (all when empty).
    #[serde(default)]
    pub cameras: Vec<String>,
    pub purpose: PurposeBody,
    /// Page size (at most the policy's results cap; default 50). A page ends between two
    /// capture times, so it may hold a few more reads; camera filtering may leave fewer.
    pub limit: Option<u32>,
    /// Next page: reads captured before this time (from the previous answer).
    pub before: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    pub reads: Vec<StoredRead>,
    /// Pass as `before` for the next page; none on the last page.
    pub next_before: Option<i64>,
    /// Policy version in force for this search.
    pub policy_version: i64,
    /// Sequence number of the audit record of this search.
    pub audit_seq: u64,
}

fn denied(message: String) -> ApiError {
    ApiError::unprocessable("purpose_denied", message)
}

/// Searches reads of one full plate, with a purpose (investigators, supervisors). Audited
/// before results are returned.
#[utoipa::path(post, path = "/api/v1/search/reads", request_body = SearchRequest, responses(
    (status = 200, body = SearchAnswer), (status = 403, body = ErrorBody),
    (status = 422, description = "purpose or limits refused by policy", body = ErrorBody)))]
pub async fn search_reads(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<SearchAnswer>, ApiError> {
    actor.require(Permission::SearchReads)?;
    let req: SearchRequest = auth::parse_body(body)?;
    if req.plate.contains(['?', '*']) {
        return Err(ApiError::unprocessable(
            "partial_search_unavailable",
            "this server searches full plates only; give the whole plate",
        ));
    }
    let plate = candor_platetext::normalize(&req.plate);
    if plate.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_plate",
            "give the plate to search for (letters and digits)",
        ));
    }
    let (from, to) = (
        chrono::DateTime::from_timestamp_millis(req.from),
        chrono::DateTime::from_timestamp_millis(req.to),
    );
    let (Some(from_t), Some(to_t)) = (from, to) else {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from and to must be Unix milliseconds",
        ));
    };
    let policy = crate::routes::policy::policy_in_force(&state).await?;
    let purpose = Purpose {
        category: req.purpose.category.clone(),
        case_number: req.purpose.case_number.clone(),
        free_text: req.purpose.free_text.clone(),
    };
    let shape = SearchShape {
        plate: PlateQuery::Full,
        from: from_t,
        to: to_t,
    };
    check_search(&policy.document, &purpose, &shape).map_err(|e| denied(e.to_string()))?;

    let cap = i64::from(policy.document.results_cap.max(1));
    let limit = i64::from(req.limit.unwrap_or(50)).clamp(1, cap);
    let to = req.before.map_or(req.to, |b| b.min(req.to));
    // One more than the page, to know whether another page follows.
    let mut reads = state
        .store
        .reads_by_plate(&state.keys, &plate, req.from, to, limit + 1)
        .await?;
    let more = reads.len() as i64 > limit;
    reads.truncate(usize::try_from(limit).unwrap_or(0));
    let mut next_before = None;
    if more && let Some(boundary) = reads.last().map(|r| r.captured_at) {
        // Pages end between capture times: take every read at the last time on this page,
        // so the next page can start strictly before it and none is skipped or repeated.
        let ties = state
            .store
            .reads_by_plate(&state.keys, &plate, boundary, boundary + 1, cap)
            .await?;
        reads.retain(|r| r.captured_at != boundary);
        reads.extend(ties);
        next_before = Some(boundary);
    }
    reads.sort_by_key(|r| std::cmp::Reverse((r.captured_at, r.id)));
    if !req.cameras.is_empty() {
        reads.retain(|r| req.cameras.contains(&r.camera_id));
    }

    let entry = candor_audit::AuditEntry::new(
        chrono::Utc::now(),
        candor_audit::Actor::User { id: actor.user_id.to_string(), name: actor.username.clone() },
        "search.reads",
        format!("case:{}", req.purpose.case_number),
        candor_audit::Outcome::Success,
    )
    .with_source(actor.remote_addr.clone())
    .with_details(json!({
        "purpose": req.purpose,
        "query": {"plate": plate, "kind": "full", "from": req.from, "to": req.to, "cameras": req.cameras, "before": req.before, "limit": limit},
        "results": reads.len(),
        "policy_version": policy.version,
    }));
    // The audit record and the usage count commit together, before any result returns.
    let mut tx = state.store.begin().await?;
    let record = state.store.append_audit_tx(&mut tx, entry).await?;
    candor_store::metrics::count_search(
        &mut tx,
        candor_store::now_ms(),
        &req.purpose.category,
        actor.user_id,
    )
    .await?;
    tx.commit().await.map_err(candor_store::StoreError::from)?;
    crate::routes::reviews::consider_for_review(
        &state,
        &actor,
        &policy.document,
        record.seq,
        req.to.saturating_sub(req.from),
        reads.len(),
    )
    .await?;
    Ok(Json(SearchAnswer {
        reads,
        next_before,
        policy_version: policy.version,
        audit_seq: record.seq,
    }))
}
