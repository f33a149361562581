//! The supervisors' review queue: a random sample of searches (the policy's rate) plus
//! flagged ones (long time ranges, many results, many searches in a day). Each review
//! (approved or concern, with a note) is audited and counted.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use crate::auth::{self, Actor, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::routes::audit::AuditRecordView;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    paths(list_reviews, review_search),
    components(schemas(ReviewView, ReviewDecision, ReviewQueue))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reviews", get(list_reviews))
        .route("/api/v1/reviews/{id}", post(review_search))
}

/// Why a search goes to review, if at all.
pub fn review_reasons(
    policy: &candor_policy::PolicyDocument,
    range_ms: i64,
    results: usize,
    searches_today: i64,
    sampled: bool,
) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    if sampled {
        reasons.push("sample");
    }
    let max_range = i64::try_from(policy.max_search_range.as_millis()).unwrap_or(i64::MAX);
    if range_ms > max_range / 2 {
        reasons.push("long_range");
    }
    if results as u64 >= u64::from(policy.results_cap / 2).max(1) {
        reasons.push("many_results");
    }
    if searches_today > i64::from(policy.review.flags.queries_per_day) {
        reasons.push("many_queries_today");
    }
    reasons
}

/// Puts a just-audited search in the review queue when it is sampled or flagged.
pub async fn consider_for_review(
    state: &AppState,
    actor: &Actor,
    policy: &candor_policy::PolicyDocument,
    audit_seq: u64,
    range_ms: i64,
    results: usize,
) -> Result<(), ApiError> {
    let actor_json = serde_json::to_string(&candor_audit::Actor::User {
        id: actor.user_id.to_string(),
        name: actor.username.clone(),
    })
    .unwrap_or_default();
    let now = candor_store::now_ms();
    let today = state
        .store
        .count_searches_since(&actor_json, now - 86_400_000)
        .await?;
    let sampled = rand::random::<f64>() < policy.review.sample_rate;
    let reasons = review_reasons(policy, range_ms, results, today, sampled);
    if !reasons.is_empty() {
        let seq = i64::try_from(audit_seq).unwrap_or(i64::MAX);
        state
            .store
            .enqueue_review(seq, actor.user_id, &reasons, now)
            .await?;
    }
    Ok(())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub id: i64,
    pub reasons: Vec<String>,
    pub created_at: i64,
    /// The search under review, as audited.
    pub search: Option<AuditRecordView>,
    pub verdict: Option<String>,
    pub note: Option<String>,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReviewQueue {
    pub items: Vec<ReviewView>,
    pub pending: i64,
    pub approved: i64,
    pub concern: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// `pending` (default) or `reviewed`.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// The review queue with counts (supervisors, program managers, auditors).
#[utoipa::path(get, path = "/api/v1/reviews", params(QueueQuery), responses(
    (status = 200, body = ReviewQueue), (status = 403, body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<QueueQuery>,
) -> Result<Json<ReviewQueue>, ApiError> {
    actor.require(Permission::ReviewQueries)?;
    let pending = !matches!(q.status.as_deref(), Some("reviewed"));
    let items = state
        .store
        .review_items(pending, q.limit.unwrap_or(50).clamp(1, 500))
        .await?;
    let counts = state.store.review_counts().await?;
    let mut views = Vec::with_capacity(items.len());
    for item in items {
        let search = state
            .store
            .audit_records(u64::try_from(item.audit_seq).unwrap_or(0), 1)
            .await?
            .into_iter()
            .find(|r| i64::try_from(r.seq).ok() == Some(item.audit_seq));
        views.push(ReviewView {
            id: item.id,
            reasons: item.reasons,
            created_at: item.created_at,
            search: search.as_ref().map(AuditRecordView::from),
            verdict: item.verdict,
            note: item.note,
            reviewed_by: item.reviewed_by,
            reviewed_at: item.reviewed_at,
        });
    }
    Ok(Json(ReviewQueue {
        items: views,
        pending: counts.pending,
        approved: counts.approved,
        concern: counts.concern,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReviewDecision {
    /// `approved` or `concern`.
    pub verdict: String,
    pub note: String,
}

/// Reviews one queued search (not one's own). Audited.
#[utoipa::path(post, path = "/api/v1/reviews/{id}", request_body = ReviewDecision, responses(
    (status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn review_search(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::http::StatusCode, ApiError> {
    actor.require(Permission::ReviewQueries)?;
    let req: ReviewDecision = auth::parse_body(body)?;
    if !matches!(req.verdict.as_str(), "approved" | "concern") {
        return Err(ApiError::unprocessable(
            "invalid_verdict",
            "verdict must be \"approved\" or \"concern\"",
        ));
    }
    if req.verdict == "concern" && req.note.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "note_required",
            "say what the concern is in the note",
        ));
    }
    let item = state
        .store
        .review_item(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no review item {id}")))?;
    if item.user_id == actor.user_id {
        return Err(ApiError::unprocessable(
            "own_search",
            "you cannot review your own search; another reviewer must",
        ));
    }
    state
        .store
        .record_review(
            id,
            actor.user_id,
            &req.verdict,
            req.note.trim(),
            candor_store::now_ms(),
        )
        .await?;
    auth::record_action(
        &state,
        &actor,
        "review.decision",
        &format!("audit:{}", item.audit_seq),
        json!({"review_id": id, "verdict": req.verdict, "note": req.note.trim(), "searcher": item.user_id, "reasons": item.reasons}),
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
