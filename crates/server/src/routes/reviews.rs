//! The supervisors' review queue: a random sample of searches (the policy's rate) plus
//! flagged ones (partial plates, long time ranges, many results, many searches in a day,
//! the same plate searched repeatedly, searches outside the user's usual pattern). Each review
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

/// What the review flags look at in one search (already audited).
#[derive(Debug, Clone)]
pub struct SearchFacts {
    pub audit_seq: u64,
    pub range_ms: i64,
    pub results: usize,
    /// A partial-plate (wildcard) search.
    pub partial: bool,
    /// Keyed fingerprint of the plate or pattern searched.
    pub query_fingerprint: Vec<u8>,
    /// Characters in the purpose text (spaces at either end not counted).
    pub purpose_chars: usize,
}

/// A user needs this many searches in the baseline before "unusual" can be judged.
pub const BASELINE_MIN_SEARCHES: usize = 20;
/// A day with more than this many times the user's daily baseline mean is a spike …
pub const VOLUME_SPIKE_FACTOR: f64 = 3.0;
/// … when it also has at least this many searches.
pub const VOLUME_SPIKE_MIN: i64 = 10;

/// Why a search goes to review, if at all. Pure: `history` includes this search, `now` is
/// its time (Unix ms, UTC).
///
/// - `sample`: picked at the policy's sample rate;
/// - `partial_plate`: a wildcard search;
/// - `long_range`: more than half the policy's longest time range;
/// - `many_results`: at least half the policy's results cap;
/// - `many_queries_today`, `many_partial_queries_today`: past the policy's daily thresholds;
/// - `repeated_plate`: the same plate or pattern searched more than the policy's weekly
///   threshold by this user (this search included);
/// - `unusual_hour`: the user has a baseline ([`BASELINE_MIN_SEARCHES`] in the 28 days
///   before the last 24 hours) and none of it within an hour (UTC time of day) of this one;
/// - `volume_spike`: the last 24 hours hold at least [`VOLUME_SPIKE_MIN`] searches and
///   more than [`VOLUME_SPIKE_FACTOR`] times the user's daily mean over the baseline.
pub fn review_reasons(
    policy: &candor_policy::PolicyDocument,
    facts: &SearchFacts,
    history: &candor_store::reviews::SearchHistory,
    sampled: bool,
    now: i64,
) -> Vec<&'static str> {
    let flags = &policy.review.flags;
    let mut reasons = Vec::new();
    if sampled {
        reasons.push("sample");
    }
    if facts.partial {
        reasons.push("partial_plate");
    }
    if (facts.purpose_chars as u64) < u64::from(policy.purpose_text.review_below_chars) {
        reasons.push("short_purpose");
    }
    let max_range = i64::try_from(policy.max_search_range.as_millis()).unwrap_or(i64::MAX);
    if facts.range_ms > max_range / 2 {
        reasons.push("long_range");
    }
    if facts.results as u64 >= u64::from(policy.results_cap / 2).max(1) {
        reasons.push("many_results");
    }
    if history.today > i64::from(flags.queries_per_day) {
        reasons.push("many_queries_today");
    }
    if history.partial_today > i64::from(flags.partial_queries_per_day) {
        reasons.push("many_partial_queries_today");
    }
    if history.same_query_week > i64::from(flags.same_plate_queries_per_week) {
        reasons.push("repeated_plate");
    }
    let baseline = &history.baseline_times;
    if baseline.len() >= BASELINE_MIN_SEARCHES {
        const HOUR: i64 = 3_600_000;
        let minute_of_day = |t: i64| t.rem_euclid(24 * HOUR);
        let here = minute_of_day(now);
        let near = baseline.iter().any(|&t| {
            let d = (minute_of_day(t) - here).abs();
            d.min(24 * HOUR - d) <= HOUR
        });
        if !near {
            reasons.push("unusual_hour");
        }
        let daily_mean =
            baseline.len() as f64 / (candor_store::reviews::BASELINE_MS as f64 / 86_400_000.0);
        if history.today >= VOLUME_SPIKE_MIN
            && history.today as f64 > VOLUME_SPIKE_FACTOR * daily_mean
        {
            reasons.push("volume_spike");
        }
    }
    reasons
}

/// Records a just-audited search in the user's activity and puts it in the review queue
/// when it is sampled or flagged; returns the reasons.
pub async fn consider_for_review(
    state: &AppState,
    actor: &Actor,
    policy: &candor_policy::PolicyDocument,
    facts: &SearchFacts,
) -> Result<Vec<String>, ApiError> {
    let now = candor_store::now_ms();
    let history = state
        .store
        .record_search_activity(actor.user_id, now, &facts.query_fingerprint, facts.partial)
        .await?;
    let sampled = rand::random::<f64>() < policy.review.sample_rate;
    let reasons = review_reasons(policy, facts, &history, sampled, now);
    if !reasons.is_empty() {
        let seq = i64::try_from(facts.audit_seq).unwrap_or(i64::MAX);
        state
            .store
            .enqueue_review(seq, actor.user_id, &reasons, now)
            .await?;
    }
    Ok(reasons.into_iter().map(String::from).collect())
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
#[utoipa::path(post, path = "/api/v1/reviews/{id}", params(("id" = i64, Path, description = "The review's id")), request_body = ReviewDecision, responses(
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
